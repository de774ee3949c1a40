using Bmcast.Agent.Metrics;
using Bmcast.Core.Blocks;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Allocation budgets of the engine's hot paths (issue 13, item 7): a change that adds per-request
/// allocations fails here. Source and target complete synchronously and copy nothing of their own
/// (the target is a plain memory device, not the crash-simulating one, which keeps every write), so a whole request runs on the
/// test's thread and <see cref="GC.GetAllocatedBytesForCurrentThread"/> sees all it allocates. The metrics exporter
/// listens meanwhile, as with <c>--metrics</c>, so recording the engine's instruments is inside the budgets.
/// </summary>
public sealed class EngineAllocationBudgetTests
{
    private const int Chunks = 256;
    /// <summary>A read of present blocks: the async state machines only, and none when they complete synchronously.</summary>
    private const long HitBudget = 0;
    /// <summary>A 4 KiB read that fetches its 64 KiB chunk: the fill and its completion (the buffer is pooled; measured ~310 B).</summary>
    private const long MissBudget = 512;

    [Fact]
    public async Task A_read_of_present_blocks_allocates_nothing_and_a_miss_stays_within_its_budget()
    {
        var ct = TestContext.Current.CancellationToken;
        using var metrics = PrometheusExport.CreateProvider();
        var geometry = new DiskGeometry(Chunks * 65536L);
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(geometry)), geometry, new byte[32], ct);
        var disk = new StreamingDisk(geometry, new SynchronousSource(geometry.Size), null,
            new MemoryBlockDevice(new byte[geometry.Size], writable: true), state,
            new StreamingOptions(), NullLogger.Instance);
        var buffer = new byte[4096];
        const int warmUp = 16;
        for (int chunk = 0; chunk < warmUp; chunk++)
            await disk.ReadAsync(chunk * 65536L, buffer, CancellationToken.None);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int chunk = warmUp; chunk < Chunks; chunk++)
            await disk.ReadAsync(chunk * 65536L, buffer, CancellationToken.None);
        long perMiss = (GC.GetAllocatedBytesForCurrentThread() - before) / (Chunks - warmUp);

        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
            await disk.ReadAsync(i % Chunks * 65536L + 4096, buffer, CancellationToken.None);
        long perHit = (GC.GetAllocatedBytesForCurrentThread() - before) / 10_000;

        TestContext.Current.TestOutputHelper?.WriteLine($"per hit {perHit} B, per miss {perMiss} B");
        Assert.True(perHit <= HitBudget, $"a hit allocates {perHit} B, budget {HitBudget} B");
        Assert.True(perMiss <= MissBudget, $"a miss allocates {perMiss} B, budget {MissBudget} B");
    }

    /// <summary>An image of bytes derived from their offset, read without ever going asynchronous.</summary>
    private sealed class SynchronousSource(long size) : IImageSource
    {
        public long Size => size;

        public string Description => "synchronous memory";

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            buffer.Span.Fill((byte)(offset >> 16));
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
