using Bmcast.Core.Storage;
using Bmcast.Engine.Tracing;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Replay keeps a trace's think times and causality: a slower disk delays ready by what its requests hold up along the
/// chain, overlapping requests overlap, and a faster disk than the recording's runs ahead of it.
/// </summary>
public sealed class IoTraceReplayTests
{
    private const long DiskSize = 1 << 20;
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Slowness_delays_ready_along_the_chain_of_dependent_requests()
    {
        // A read (recorded 0-100 ms), 100 ms of thought, a read that depends on it (200-300 ms), ready 400 ms later.
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 100000 R 0 4096\n200000 100000 R 65536 4096\nready 700000\n", DiskSize);
        var fast = await ReplayAsync(trace, TimeSpan.Zero);
        var slow = await ReplayAsync(trace, Latency);
        // Fast: 100 ms + 400 ms of thought, ahead of the recording's 700 ms; slow: those plus two latencies. The lower
        // bound lies halfway between one latency (the requests replayed as if independent) and two: timers on a loaded
        // machine moved the difference by up to 120 ms (484 ms seen against 600).
        Assert.InRange(fast.TotalMilliseconds, 490, 690);
        Assert.InRange((slow - fast).TotalMilliseconds, 1.5 * Latency.TotalMilliseconds, 2 * Latency.TotalMilliseconds + 250);
    }

    [Fact]
    public async Task Requests_that_overlapped_in_the_recording_overlap_in_the_replay()
    {
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 100000 R 0 4096\n10000 100000 R 65536 4096\n20000 100000 W 131072 4096\nready 200000\n", DiskSize);
        var fast = await ReplayAsync(trace, TimeSpan.Zero);
        var slow = await ReplayAsync(trace, Latency);
        // One latency, not three.
        Assert.InRange((slow - fast).TotalMilliseconds, Latency.TotalMilliseconds - 100, 2 * Latency.TotalMilliseconds - 50);
    }

    [Fact]
    public async Task A_failed_request_fails_the_replay()
    {
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 10 W 0 4096\nready 20\n", DiskSize);
        var memory = new MemoryBlockDevice(new byte[DiskSize], writable: true);
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => IoTraceReplay.RunAsync(trace, new FailingWrites(memory), TestContext.Current.CancellationToken));
        Assert.Contains("injected", e.Message);
    }

    private static Task<TimeSpan> ReplayAsync(IoTrace trace, TimeSpan latency) =>
        IoTraceReplay.RunAsync(trace, new SlowDevice(new MemoryBlockDevice(new byte[DiskSize], writable: true), latency), TestContext.Current.CancellationToken);

    private sealed class SlowDevice(IBlockDevice inner, TimeSpan latency) : ForwardingBlockDevice(inner)
    {
        public override async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            await Task.Delay(latency, ct);
            await Inner.ReadAsync(offset, buffer, ct);
        }

        public override async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
        {
            await Task.Delay(latency, ct);
            await Inner.WriteAsync(offset, data, forceUnitAccess, ct);
        }
    }

    private sealed class FailingWrites(IBlockDevice inner) : ForwardingBlockDevice(inner)
    {
        public override ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) =>
            ValueTask.FromException(new BlockDeviceException(BlockDeviceException.EIO, "injected write failure"));
    }
}
