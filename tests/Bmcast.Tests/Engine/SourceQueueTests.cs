using System.Collections.Concurrent;
using Bmcast.Core.Blocks;
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

    private static async Task<(StreamingDisk, GatedSource)> CreateAsync(int backgroundLimit, CancellationToken ct)
    {
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(Geometry)), Geometry, new byte[32], ct);
        var source = new GatedSource(Geometry.Size);
        var options = new StreamingOptions { BackgroundParallelism = backgroundLimit };
        return (new StreamingDisk(Geometry, source, null, new CrashableDevice(Geometry.Size), state, options, NullLogger.Instance), source);
    }

    /// <summary>A source whose every chunk read waits until the test releases that chunk.</summary>
    private sealed class GatedSource(long size) : IImageSource
    {
        private readonly ConcurrentDictionary<long, TaskCompletionSource> _gates = new();

        public ConcurrentQueue<long> Started { get; } = new();

        public long Size => size;

        public string Description => "gated";

        public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            long chunk = offset / 65536;
            var gate = Gate(chunk);
            Started.Enqueue(chunk);
            await gate.Task.WaitAsync(cancellationToken);
            buffer.Span.Fill((byte)chunk);
        }

        public void Release(long chunk) => Gate(chunk).TrySetResult();

        public async Task WaitForReadsAsync(int count, CancellationToken ct)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Started.Count < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {Started.Count} of {count} source reads started");
                await Task.Delay(5, ct);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private TaskCompletionSource Gate(long chunk) =>
            _gates.GetOrAdd(chunk, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
