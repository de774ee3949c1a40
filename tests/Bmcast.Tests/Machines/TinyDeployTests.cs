using Bmcast.Engine.Tracing;
using Bmcast.Tests.Metrics;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// The whole hosted job on the <c>tiny</c> sample image: <c>bmcast deploy</c> boots it from a slow
/// image server (2 MiB/s emulated link), the deployment completes and pivots the running guest onto
/// the target file, the guest writes and syncs files (tiny's boot reads almost all of its data, so
/// the copy completes around the time it is ready: the writes land before or after the pivot),
/// and the target file alone then boots and finds every file intact. Its <c>--metrics</c> page, scraped once pivoted,
/// shows the time-to-ready and pivot pause its events report, and the boot's reads through the agent, which the boot
/// trace written at ready holds (when the pivot came after ready; before it, no trace is written).
/// </summary>
public sealed class TinyDeployTests
{
    [Fact]
    public async Task Guest_writes_survive_the_deployment_and_pivot_and_the_target_boots_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        await using var rig = await WriteTestGuest.ServeTinyAsync(dir, "--rate", "2M");
        string target = rig.Directory.File("target.raw");

        var deploy = rig.Track(BmcastProcess.Start("deploy", "--source", rig.SourceUri("tiny"), "--target", target,
            "--guest-mode", "write-test", "--known-keys", rig.Directory.File("known_keys"), "--json", "--metrics", "127.0.0.1:0"));
        var metricsUrl = await PrometheusPage.UrlOfAsync(deploy, ct);
        var ready = await deploy.WaitForEventAsync("ready", TimeSpan.FromMinutes(4));
        var pivoted = await deploy.WaitForEventAsync("pivoted", TimeSpan.FromMinutes(4));
        var page = await PrometheusPage.ScrapeAsync(metricsUrl, ct);
        page.AssertFollowsNamingRules();
        Assert.Equal(ready.GetProperty("time_to_ready").GetDouble(), page.Single("bmcast_agent_time_to_ready_seconds"), 0.001);
        Assert.Equal(pivoted.GetProperty("pivot_ms").GetDouble() / 1000, page.Single("bmcast_agent_pivot_pause_seconds"), 0.001);
        // Until the pivot every guest read went through the agent: when the pivot came after the ready marker, at least
        // what QEMU counted by then (tiny's copy may complete, and the pivot come, before the marker).
        double guestRead = page.Single("bmcast_engine_guest_bytes_total", "op=read");
        long readByReady = ready.GetProperty("guest_read_bytes").GetInt64();
        bool pivotAfterReady = pivoted.GetProperty("time").GetDouble() > ready.GetProperty("time").GetDouble();
        Assert.True(guestRead > 0 && (!pivotAfterReady || guestRead >= readByReady), $"guest reads through the agent: {guestRead}, QEMU's by ready: {readByReady}");
        // The boot trace, written at ready: the reads it holds all went through the agent, and it ends at ready. A pivot
        // before ready took the rest of the boot's requests past the agent: then there is none rather than part of one.
        if (pivotAfterReady)
        {
            var trace = IoTrace.Parse(await File.ReadAllTextAsync(target + ".boot-trace", ct), new FileInfo(target).Length);
            Assert.True(trace.BytesRead > 0 && trace.BytesRead <= guestRead, $"trace reads {trace.BytesRead} B, through the agent {guestRead} B");
            Assert.InRange(trace.ReadyMicros / 1e6, 0.5, ready.GetProperty("time_to_ready").GetDouble());
        }
        else
        {
            Assert.False(File.Exists(target + ".boot-trace"), "a boot trace was written although the disk was pivoted before ready");
        }
        await WriteTestGuest.WaitForConsoleAsync(target + ".console.log", "BMCAST-WRITES-DONE", TimeSpan.FromMinutes(2));
        await deploy.StopAsync(TimeSpan.FromMinutes(1));

        await WriteTestGuest.AssertTargetHasTheFilesAsync(target);
    }
}
