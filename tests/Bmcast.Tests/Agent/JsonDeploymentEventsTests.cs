using System.Text.Json;
using Bmcast.Agent.Events;

namespace Bmcast.Tests.Agent;

/// <summary>
/// The <c>--json</c> form of a deploy's own events, field for field as docs/hosted.md lists them: programs (and the
/// controller, reading a deployment's log) parse these names.
/// </summary>
public sealed class JsonDeploymentEventsTests
{
    [Fact]
    public void Each_deploy_event_is_one_line_with_its_documented_name_and_fields()
    {
        var output = new StringWriter();
        var sink = new JsonDeploymentEvents(new JsonEventWriter(output));
        var at = TimeSpan.FromSeconds(1.5);

        sink.Publish(new MachineStarted(at, "kvm", 1234));
        sink.Publish(new GuestMarker(at, "BMCAST-WROTE 3"));
        sink.Publish(new GuestReady(at, TimeSpan.FromSeconds(1.2346), 100, 60, 40));
        sink.Publish(new DiskPivoted(at, TimeSpan.FromMilliseconds(12.34)));
        sink.Publish(new PivotFailed(at, "pivot onto t failed"));
        sink.Publish(new MachineExited(at));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["machine-started", "guest", "ready", "pivoted", "pivot-failed", "machine-exited"], lines.Select(e => e.GetProperty("event").GetString()));
        Assert.All(lines, e => Assert.Equal(1.5, e.GetProperty("time").GetDouble()));
        Assert.Equal(("kvm", 1234), (lines[0].GetProperty("accelerator").GetString(), lines[0].GetProperty("pid").GetInt32()));
        Assert.Equal("BMCAST-WROTE 3", lines[1].GetProperty("marker").GetString());
        Assert.Equal((1.235, 100L, 60L, 40L), (lines[2].GetProperty("time_to_ready").GetDouble(), lines[2].GetProperty("guest_read_bytes").GetInt64(),
            lines[2].GetProperty("on_demand_bytes").GetInt64(), lines[2].GetProperty("background_bytes").GetInt64()));
        Assert.Equal(12.3, lines[3].GetProperty("pivot_ms").GetDouble());
        Assert.Equal("pivot onto t failed", lines[4].GetProperty("error").GetString());
    }

    [Fact]
    public void Each_bare_metal_event_is_one_line_with_its_documented_name_and_fields()
    {
        var output = new StringWriter();
        var sink = new JsonDeploymentEvents(new JsonEventWriter(output));
        var at = TimeSpan.FromSeconds(2);
        var counts = new HypervisorCounts(10, 1024, 1, 655360, 65536, 9, 1, 2);

        sink.Publish(new HypervisorStreaming(at, 67108864, 1024, 741, 0, 91168));
        sink.Publish(new HypervisorProgressed(at, counts));
        sink.Publish(new HypervisorCompleted(at, counts with { PresentChunks = 1024, PresentPercent = 100 }));
        sink.Publish(new HypervisorLeft(at, 21806));
        sink.Publish(new HypervisorFailed(at, "verify", 17));
        sink.Publish(new DiskVerified(at, false, 1023, 1, 2, [5, 9]));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["streaming", "progress", "complete", "devirtualized", "error", "verified"], lines.Select(e => e.GetProperty("event").GetString()));
        Assert.Equal((67108864L, 1024L, 741L, 0L, 91168L), (lines[0].GetProperty("image_bytes").GetInt64(), lines[0].GetProperty("chunks").GetInt64(),
            lines[0].GetProperty("zero_chunks").GetInt64(), lines[0].GetProperty("present_chunks").GetInt64(), lines[0].GetProperty("reserved_bytes").GetInt64()));
        string[] countFields = ["present_chunks", "chunks", "present_percent", "on_demand_bytes", "background_bytes", "fetched_chunks", "zero_filled_chunks",
            "guest_owned_chunks"];
        Assert.Equal([10L, 1024, 1, 655360, 65536, 9, 1, 2], countFields.Select(f => lines[1].GetProperty(f).GetInt64()));
        Assert.Equal((1024L, 100L), (lines[2].GetProperty("present_chunks").GetInt64(), lines[2].GetProperty("present_percent").GetInt64()));
        Assert.Equal(21806, lines[3].GetProperty("exits").GetInt64());
        Assert.Equal(("verify", 17L), (lines[4].GetProperty("reason").GetString(), lines[4].GetProperty("chunk").GetInt64()));
        Assert.False(lines[5].GetProperty("equal").GetBoolean());
        Assert.Equal((1023L, 1L, 2L), (lines[5].GetProperty("compared_chunks").GetInt64(), lines[5].GetProperty("guest_written_chunks").GetInt64(),
            lines[5].GetProperty("differing_chunks").GetInt64()));
        Assert.Equal([5L, 9], lines[5].GetProperty("differing").EnumerateArray().Select(e => e.GetInt64()));
    }
}
