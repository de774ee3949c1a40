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
}
