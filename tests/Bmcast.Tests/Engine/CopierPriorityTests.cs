using Bmcast.Core.Blocks;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Where the background copier's work runs (issue 13): on several low-priority workers at once, and a fill a guest
/// read joins finishes at normal priority even when no worker gets the CPU.
/// </summary>
public sealed class CopierPriorityTests
{
    private static readonly DiskGeometry Geometry = new(16 * 65536);

    [Fact]
    public async Task Background_fills_write_to_the_target_on_several_low_priority_workers_at_once()
    {
        // Each write waits for the other: with one copier thread the first would wait alone.
        var ct = TestContext.Current.CancellationToken;
        using var workers = new LowPriorityScheduler(2);
        var target = new MeetingTarget(Geometry.Size, workers);
        var image = Enumerable.Range(0, (int)Geometry.Size).Select(i => (byte)(i * 7)).ToArray();
        var disk = await CreateAsync(new MemoryImageSource(image, "memory"), target, ct);

        await workers.RunAsync(() => Task.WhenAll(
            disk.EnsureChunkAsync(0, FetchPriority.Background, ct),
            disk.EnsureChunkAsync(1, FetchPriority.Background, ct)), ct).WaitAsync(TimeSpan.FromSeconds(120), ct);

        Assert.Equal([true, true], target.Writes.Select(w => w.Met));
        Assert.Equal([true, true], target.Writes.Select(w => w.OnWorker));
        var read = new byte[2 * 65536];
        await disk.ReadAsync(0, read, ct);
        Assert.Equal(image.AsSpan(0, read.Length).ToArray(), read);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_fill_a_guest_read_joins_finishes_while_every_worker_is_starved(bool stepWaitsForAWorker)
    {
        // Starved is modelled as occupied: nice 19 still gives a worker ~1.5% of a busy core, which
        // would only make the failure slow, not absent.
        var ct = TestContext.Current.CancellationToken;
        using var workers = new LowPriorityScheduler(2);
        var source = new GatedSource(Geometry.Size);
        var disk = await CreateAsync(source, new CrashableDevice(Geometry.Size), ct);
        var copier = workers.RunAsync(() => disk.EnsureChunkAsync(3, FetchPriority.Background, ct), ct);
        await source.WaitForReadsAsync(1, ct);

        using var starve = new ManualResetEventSlim();
        using var occupied = new CountdownEvent(2);
        try
        {
            for (int i = 0; i < 2; i++)
                workers.Post(() =>
                {
                    occupied.Signal();
                    starve.Wait(ct);
                });
            Assert.True(occupied.Wait(TimeSpan.FromSeconds(30), ct));
            if (stepWaitsForAWorker)
            {
                // The fill's read returns and its verification waits in the workers' queue.
                source.Release(3);
                await Task.Delay(200, ct);
            }

            var read = new byte[4096];
            var guest = disk.ReadAsync(3 * 65536, read, ct).AsTask();
            source.Release(3);
            await guest.WaitAsync(TimeSpan.FromSeconds(60), ct);

            Assert.All(read, b => Assert.Equal(3, b));
            Assert.False(copier.IsCompleted, "the copier's own continuation should still wait for a worker");
        }
        finally
        {
            starve.Set();
        }
        await copier.WaitAsync(TimeSpan.FromSeconds(60), ct);
    }

    private static async Task<StreamingDisk> CreateAsync(IImageSource source, IBlockDevice target, CancellationToken ct)
    {
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(Geometry)), Geometry, new byte[32], ct);
        return new StreamingDisk(Geometry, source, null, target, state, new StreamingOptions(), NullLogger.Instance);
    }

    /// <summary>A target whose writes wait (on their thread, as a slow write would) until two writes are under way.</summary>
    private sealed class MeetingTarget(long size, LowPriorityScheduler workers) : IBlockDevice
    {
        private readonly CrashableDevice _inner = new(size);
        private readonly Barrier _meeting = new(2);

        public System.Collections.Concurrent.ConcurrentQueue<(bool Met, bool OnWorker)> Writes { get; } = new();

        public long Size => size;

        public BlockDeviceCapabilities Capabilities => _inner.Capabilities;

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => _inner.ReadAsync(offset, buffer, ct);

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
        {
            Writes.Enqueue((_meeting.SignalAndWait(TimeSpan.FromSeconds(20), ct), workers.IsWorkerThread));
            return _inner.WriteAsync(offset, data, forceUnitAccess, ct);
        }

        public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) =>
            _inner.WriteZeroesAsync(offset, length, forceUnitAccess, ct);

        public ValueTask FlushAsync(CancellationToken ct) => _inner.FlushAsync(ct);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
