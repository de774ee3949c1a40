using System.Security.Cryptography;
using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>On-demand fetches preempt background ones at the source (DESIGN §4 rule 8), through the real engine.</summary>
public sealed class SourceQueueTests
{
    private static readonly DiskGeometry Geometry = new(16 * 65536);

    [Fact]
    public async Task Background_fetches_wait_while_an_on_demand_fetch_is_at_the_source_and_are_limited_otherwise()
    {
        var ct = TestContext.Current.CancellationToken;
        var (disk, source) = await CreateAsync(backgroundLimit: 2, ct);

        var background = Enumerable.Range(0, 4).Select(c => disk.EnsureChunkAsync(c, FetchPriority.Background, ct)).ToList();
        await source.WaitForReadsAsync(2, ct);
        Assert.Equal([0L, 1L], source.Started.Order());

        // A guest read goes to the source at once, past the two background fetches waiting in line.
        var read = disk.ReadAsync(10 * 65536, new byte[4096], ct).AsTask();
        await source.WaitForReadsAsync(3, ct);
        Assert.Contains(10L, source.Started);

        // The background slots it freed stay unused while the guest waits on the source.
        source.Release(0);
        source.Release(1);
        await Task.WhenAll(background.Take(2));
        await Task.Delay(200, ct);
        Assert.Equal(3, source.Started.Count);

        source.Release(10);
        await read;
        await source.WaitForReadsAsync(5, ct);
        source.Release(2);
        source.Release(3);
        await Task.WhenAll(background);
    }

    [Fact]
    public async Task A_guest_read_of_a_chunk_waiting_in_the_background_line_promotes_it_to_the_source_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var (disk, source) = await CreateAsync(backgroundLimit: 1, ct);
        var first = disk.EnsureChunkAsync(0, FetchPriority.Background, ct);
        var waiting = disk.EnsureChunkAsync(7, FetchPriority.Background, ct);
        await source.WaitForReadsAsync(1, ct);

        var read = disk.ReadAsync(7 * 65536, new byte[4096], ct).AsTask();
        await source.WaitForReadsAsync(2, ct);
        Assert.Contains(7L, source.Started);
        source.Release(7);
        await Task.WhenAll(read, waiting);
        Assert.Equal(65536, disk.Statistics.BytesOnDemand);

        source.Release(0);
        await first;
    }

    [Fact]
    public async Task A_guest_read_joining_a_background_fill_of_a_zero_chunk_leaves_the_source_free_for_the_copier()
    {
        // A zero chunk is written without a fetch, so its fill never enters the source queue; a guest
        // read that joined it once counted as an on-demand fetch at the source that never left, and
        // every later background fetch waited behind it for good.
        var ct = TestContext.Current.CancellationToken;
        var target = new ZeroGatedTarget(Geometry.Size);
        var (disk, source) = await CreateAsync(backgroundLimit: 1, ct, ManifestWithZeroChunk(0), target);
        var zeroFill = disk.EnsureChunkAsync(0, FetchPriority.Background, ct);
        await target.ZeroWriteStarted.Task.WaitAsync(ct);

        var read = disk.ReadAsync(0, new byte[4096], ct).AsTask();
        await Task.Delay(100, ct);
        target.ReleaseZeroWrites();
        await Task.WhenAll(zeroFill, read);

        var background = disk.EnsureChunkAsync(3, FetchPriority.Background, ct);
        await source.WaitForReadsAsync(1, ct);
        source.Release(3);
        await background;
    }

    [Fact]
    public async Task By_default_two_background_runs_are_at_the_source_at_once_and_a_third_waits_for_one_to_leave()
    {
        // Two runs in flight: the next run's read is on its way while the one before arrives and is verified.
        var ct = TestContext.Current.CancellationToken;
        var options = new StreamingOptions();
        int run = options.BackgroundRunChunks;
        var geometry = new DiskGeometry(3L * run * 65536);
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(geometry)), geometry, new byte[32], ct);
        var source = new GatedSource(geometry.Size);
        var disk = new StreamingDisk(geometry, source, null, new CrashableDevice(geometry.Size), state, options, NullLogger.Instance);

        var runs = Enumerable.Range(0, 3).Select(i => disk.EnsureRunAsync(i * run, run, out _, ct)).ToList();
        await source.WaitForReadsAsync(2, ct);
        await Task.Delay(200, ct);
        Assert.Equal([0L, run], source.Started.Order());

        source.Release(0);
        await source.WaitForReadsAsync(3, ct);
        Assert.Contains(2L * run, source.Started);
        source.Release(run);
        source.Release(2L * run);
        await Task.WhenAll(runs);
        Assert.True(disk.Presence.IsComplete);
    }

    private static async Task<(StreamingDisk, GatedSource)> CreateAsync(int backgroundLimit, CancellationToken ct,
        Manifest? manifest = null, IBlockDevice? target = null)
    {
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(Geometry)), Geometry, new byte[32], ct);
        var source = new GatedSource(Geometry.Size);
        var options = new StreamingOptions { BackgroundParallelism = backgroundLimit };
        return (new StreamingDisk(Geometry, source, manifest, target ?? new CrashableDevice(Geometry.Size), state, options, NullLogger.Instance), source);
    }

    /// <summary>A manifest of the gated source's contents (chunk c is all bytes c) in which <paramref name="zeroChunk"/> is a hole.</summary>
    private static Manifest ManifestWithZeroChunk(long zeroChunk)
    {
        var zero = new bool[Geometry.ChunkCount];
        var hashes = new byte[Geometry.ChunkCount * Manifest.HashSize];
        var data = new byte[Geometry.ChunkSize];
        for (int chunk = 0; chunk < Geometry.ChunkCount; chunk++)
        {
            data.AsSpan().Fill((byte)chunk);
            zero[chunk] = chunk == zeroChunk;
            SHA256.HashData(data, hashes.AsSpan(chunk * Manifest.HashSize));
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Manifest.Create(Geometry.Size, Geometry.ChunkSize, zero, hashes, key);
    }

    /// <summary>A target whose zero writes wait until the test releases them, so a zero chunk's fill can be joined.</summary>
    private sealed class ZeroGatedTarget(long size) : IBlockDevice
    {
        private readonly CrashableDevice _inner = new(size);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ZeroWriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Size => size;

        public BlockDeviceCapabilities Capabilities => _inner.Capabilities;

        public void ReleaseZeroWrites() => _release.TrySetResult();

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => _inner.ReadAsync(offset, buffer, ct);

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) =>
            _inner.WriteAsync(offset, data, forceUnitAccess, ct);

        public async ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct)
        {
            ZeroWriteStarted.TrySetResult();
            await _release.Task.WaitAsync(ct);
            await _inner.WriteZeroesAsync(offset, length, forceUnitAccess, ct);
        }

        public ValueTask FlushAsync(CancellationToken ct) => _inner.FlushAsync(ct);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
