using Bmcast.Core.Storage;
using Bmcast.Engine.Tracing;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Time.Testing;

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
    public void Slowness_delays_ready_along_the_chain_of_dependent_requests()
    {
        // A read (recorded 0-100 ms), 100 ms of thought, a read that depends on it (200-300 ms), ready 400 ms later.
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 100000 R 0 4096\n200000 100000 R 65536 4096\nready 700000\n", DiskSize);
        var fast = Replay(trace, TimeSpan.Zero);
        var slow = Replay(trace, Latency);
        // Fast: 100 ms of thought after the first read and 400 ms after the second, ahead of the recording's 700 ms.
        // Slow: those plus both latencies, since the second read waited for the first (one latency if the replay
        // had issued them as independent, three if it had also delayed ready by one).
        Assert.Equal(TimeSpan.FromMilliseconds(500), fast);
        Assert.Equal(fast + 2 * Latency, slow);
    }

    [Fact]
    public void Requests_that_overlapped_in_the_recording_overlap_in_the_replay()
    {
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 100000 R 0 4096\n10000 100000 R 65536 4096\n20000 100000 W 131072 4096\nready 200000\n", DiskSize);
        var fast = Replay(trace, TimeSpan.Zero);
        var slow = Replay(trace, Latency);
        // Issued at 0, 10 and 20 ms, ready 80 ms after the last completes: one latency later when slow, not three.
        Assert.Equal(TimeSpan.FromMilliseconds(100), fast);
        Assert.Equal(fast + Latency, slow);
    }

    [Fact]
    public async Task A_failed_request_fails_the_replay()
    {
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 10 W 0 4096\nready 20\n", DiskSize);
        var memory = new MemoryBlockDevice(new byte[DiskSize], writable: true);
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => IoTraceReplay.RunAsync(trace, new FailingWrites(memory), TestContext.Current.CancellationToken));
        Assert.Contains("injected", e.Message);
    }

    /// <summary>The replay's time-to-ready on a disk that answers after <paramref name="latency"/>, both on virtual time.</summary>
    private static TimeSpan Replay(IoTrace trace, TimeSpan latency)
    {
        var time = new FakeTimeProvider();
        var disk = new SlowDevice(new MemoryBlockDevice(new byte[DiskSize], writable: true), latency, time);
        return VirtualTime.Run(time, () => IoTraceReplay.RunAsync(trace, disk, time, TestContext.Current.CancellationToken));
    }

    private sealed class SlowDevice(IBlockDevice inner, TimeSpan latency, TimeProvider time) : ForwardingBlockDevice(inner)
    {
        public override async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            await Task.Delay(latency, time, ct);
            await Inner.ReadAsync(offset, buffer, ct);
        }

        public override async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
        {
            await Task.Delay(latency, time, ct);
            await Inner.WriteAsync(offset, data, forceUnitAccess, ct);
        }
    }

    private sealed class FailingWrites(IBlockDevice inner) : ForwardingBlockDevice(inner)
    {
        public override ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) =>
            ValueTask.FromException(new BlockDeviceException(BlockDeviceException.EIO, "injected write failure"));
    }
}
