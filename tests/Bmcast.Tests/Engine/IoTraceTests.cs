using Bmcast.Core.Storage;
using Bmcast.Engine.Tracing;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Engine;

/// <summary>Boot traces: what the tracing device records, the text format's round trip, and its strict parser.</summary>
public sealed class IoTraceTests
{
    private const long DiskSize = 1 << 20;

    [Fact]
    public async Task Every_completed_request_is_recorded_in_start_order_until_stopped()
    {
        var ct = TestContext.Current.CancellationToken;
        var recorder = new IoTraceRecorder();
        var device = new TracingBlockDevice(new MemoryBlockDevice(new byte[DiskSize], writable: true), recorder);
        await device.ReadAsync(4096, new byte[512], ct);
        await device.WriteAsync(8192, new byte[4096], forceUnitAccess: true, ct);
        await device.WriteZeroesAsync(65536, 65536, false, ct);
        await device.FlushAsync(ct);
        var trace = recorder.Stop();
        await device.ReadAsync(0, new byte[512], ct); // after ready: not part of the boot

        Assert.Equal(
            [(IoKind.Read, 4096L, 512L), (IoKind.Write, 8192L, 4096L), (IoKind.WriteZeroes, 65536L, 65536L), (IoKind.Flush, 0L, 0L)],
            trace.Records.Select(r => (r.Kind, r.Offset, r.Length)));
        Assert.All(trace.Records, r => Assert.InRange(r.EndMicros, r.StartMicros, trace.ReadyMicros));
        Assert.Equal(512, trace.BytesRead);
        Assert.Equal(4096 + 65536, trace.BytesWritten);

        var parsed = IoTrace.Parse(trace.Format(), DiskSize);
        Assert.Equal(trace.Records, parsed.Records);
        Assert.Equal(trace.ReadyMicros, parsed.ReadyMicros);
    }

    [Fact]
    public async Task Reads_answered_at_once_are_recorded_too()
    {
        using var dir = new TempDirectory();
        var recorder = new IoTraceRecorder();
        await using var file = FileBlockDevice.OpenOrCreate(Path.Combine(dir.Path, "disk.raw"), DiskSize);
        var device = new TracingBlockDevice(file, recorder);
        Assert.True(device.TryRead(4096, new byte[512]));
        Assert.True(device.TryLocateInFile(65536, 65536, out var position));
        Assert.Equal(65536, position.Offset);
        var trace = recorder.Stop();

        Assert.Equal([(IoKind.Read, 4096L, 512L), (IoKind.Read, 65536L, 65536L)], trace.Records.Select(r => (r.Kind, r.Offset, r.Length)));
    }

    [Fact]
    public async Task Recording_allocates_only_its_segments()
    {
        var ct = TestContext.Current.CancellationToken;
        var recorder = new IoTraceRecorder();
        var device = new TracingBlockDevice(new MemoryBlockDevice(new byte[DiskSize], writable: true), recorder);
        var buffer = new byte[4096];
        await device.ReadAsync(0, buffer, ct);
        const int requests = 3 * IoTraceRecorder.SegmentLength;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < requests; i++)
            await device.ReadAsync(i % 256 * 4096L, buffer, CancellationToken.None);
        long perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / requests;
        // A segment holds SegmentLength records of 40 bytes: 40 B a request, amortized, and nothing else.
        Assert.True(perRequest <= 48, $"recording allocates {perRequest} B per request");
    }

    [Theory]
    [InlineData("", "not a bmcast boot trace")]
    [InlineData("# bmcast boot trace v2\nready 5\n", "not a bmcast boot trace")]
    [InlineData("# bmcast boot trace v1\n", "ends before its 'ready' line")]
    [InlineData("# bmcast boot trace v1\n10 5 R 0 512\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 X 0 512\nready 100\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 R 0 0\nready 100\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 R 1048064 1024\nready 100\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 R -1 512\nready 100\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 F 4096 0\nready 100\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 R 0 512 7\nready 100\n", "line 2")]
    [InlineData("# bmcast boot trace v1\n10 5 R 0 512\n9 5 R 0 512\nready 100\n", "line 3 '9 5 R 0 512': requests must be in start order")]
    [InlineData("# bmcast boot trace v1\n10 500 R 0 512\nready 100\n", "line 3 'ready 100': a request ends after ready")]
    [InlineData("# bmcast boot trace v1\n10 5 R 0 512\nready\n", "line 3")]
    [InlineData("# bmcast boot trace v1\nready 100\n10 5 R 0 512\n", "line 2")]
    public void A_damaged_trace_is_refused_naming_what_is_wrong(string text, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => IoTrace.Parse(text, DiskSize));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_trace_without_requests_is_valid()
    {
        var trace = IoTrace.Parse("# bmcast boot trace v1\nready 7\n", DiskSize);
        Assert.Empty(trace.Records);
        Assert.Equal(7, trace.ReadyMicros);
    }
}
