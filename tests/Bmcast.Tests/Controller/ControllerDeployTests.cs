using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bmcast.Tests.Machines;
using Bmcast.Tests.Metrics;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Controller;

/// <summary>
/// Real deployments of <c>tiny</c> through a real controller (its image server at an emulated 2 MiB/s, so the copy
/// outlasts a controller restart): the controller is killed with SIGKILL while the machine boots, the deploy and its
/// guest go on, and the new controller follows the deployment to ready, pivoted and, once the machine exits, finished,
/// its events served as SSE and its figures on /metrics (moving between scrapes, gone once it ended, named by the
/// rules, its own image server's beside them); a second
/// deployment is stopped by DELETE.
/// </summary>
public sealed class ControllerDeployTests
{
    [Fact]
    public async Task A_deployment_survives_a_controller_crash_and_reaches_ready_pivoted_finished_and_another_stops()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        await using var rig = await ControllerRig.StartAsync(dir, await WriteTestGuest.BuildTinyAsync(dir), "tiny", "--rate", "2M");
        var api = rig.Client();
        string target = dir.File("vm1.raw");

        var accepted = await rig.DeployAsync(api, new { image = "tiny", target, guest_mode = "stay" });
        string id = accepted.GetProperty("id").GetString()!;
        Assert.Equal("pending", accepted.GetProperty("state").GetString());
        var inUse = await api.PostAsJsonAsync("/api/v1/deployments", new { image = "tiny", target }, ct);
        Assert.Equal(HttpStatusCode.Conflict, inUse.StatusCode);

        await ControllerRig.WaitForAsync(api, id, ControllerRig.InState("booting"), TimeSpan.FromMinutes(2));
        string metricsBooting = await Scrape(rig);
        await rig.CrashAndRestartAsync();
        api.Dispose();
        api = rig.Client();
        Assert.Equal(id, Assert.Single((await api.GetFromJsonAsync<JsonElement>("/api/v1/deployments", ct)).EnumerateArray()).GetProperty("id").GetString());

        var ready = await ControllerRig.WaitForAsync(api, id, d => d.GetProperty("time_to_ready").ValueKind == JsonValueKind.Number, TimeSpan.FromMinutes(4));
        Assert.True(ready.GetProperty("time_to_ready").GetDouble() > 0);
        var pivoted = await ControllerRig.WaitForAsync(api, id, ControllerRig.InState("pivoted"), TimeSpan.FromMinutes(4));
        Assert.Equal(100, pivoted.GetProperty("percent_present").GetDouble());
        Assert.True(pivoted.GetProperty("on_demand_bytes").GetInt64() > 0 && pivoted.GetProperty("background_bytes").GetInt64() > 0, pivoted.ToString());
        string metricsPivoted = await Scrape(rig);
        string series = $"{{deployment=\"{id}\",image=\"tiny\"}}";
        Assert.True(Sample(metricsPivoted, "bmcast_deployment_background_bytes_total" + series) > Sample(metricsBooting, "bmcast_deployment_background_bytes_total" + series));
        Assert.True(Sample(metricsPivoted, "bmcast_deployment_present_ratio" + series) > Sample(metricsBooting, "bmcast_deployment_present_ratio" + series));
        Assert.Equal(1, Sample(metricsPivoted, "bmcast_deployment_present_ratio" + series));
        Assert.Equal(pivoted.GetProperty("time_to_ready").GetDouble(), Sample(metricsPivoted, "bmcast_deployment_time_to_ready_seconds" + series));
        Assert.Equal(1, Sample(metricsPivoted, "bmcast_deployments{state=\"pivoted\"}"));
        Assert.Equal(0, Sample(metricsPivoted, "bmcast_deployment_verification_failures_total" + series));
        var pivotedPage = PrometheusPage.Parse(metricsPivoted);
        pivotedPage.AssertFollowsNamingRules();
        // The controller's own image server counts what the deploy (reconnected after the crash) read from it.
        Assert.True(pivotedPage.Sum("bmcast_nbd_bytes_total", "export=tiny", "op=read") > 0, metricsPivoted);

        // The guest stays up in this mode: power its machine off from outside, as a guest shutting down would end it.
        int qemu = MachinePid(Path.Combine(rig.Data, "deployments", id, "events.jsonl"));
        Assert.Equal(0, (await ExternalTool.RunAsync(TimeSpan.FromSeconds(10), "kill", "-TERM", qemu.ToString())).ExitCode);
        await ControllerRig.WaitForAsync(api, id, ControllerRig.InState("finished"), TimeSpan.FromMinutes(1));
        string metricsFinished = await Scrape(rig);
        Assert.DoesNotContain(series, metricsFinished, StringComparison.Ordinal);
        Assert.Equal(1, Sample(metricsFinished, "bmcast_deployments{state=\"finished\"}"));

        string events = await api.GetStringAsync($"/api/v1/deployments/{id}/events", ct);
        foreach (string name in new[] { "started", "machine-started", "ready", "complete", "pivoted", "machine-exited", "state" })
            Assert.Contains($"event: {name}\n", events, StringComparison.Ordinal);
        Assert.Contains("\"state\":\"finished\"", events, StringComparison.Ordinal);

        var second = await rig.DeployAsync(api, new { image = "tiny", target = dir.File("vm2.raw"), guest_mode = "stay" });
        string secondId = second.GetProperty("id").GetString()!;
        await ControllerRig.WaitForAsync(api, secondId, ControllerRig.InState("booting"), TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.Accepted, (await api.DeleteAsync($"/api/v1/deployments/{secondId}", ct)).StatusCode);
        await ControllerRig.WaitForAsync(api, secondId, ControllerRig.InState("stopped"), TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.Conflict, (await api.DeleteAsync($"/api/v1/deployments/{secondId}", ct)).StatusCode);
        api.Dispose();
    }

    /// <summary>The controller's <c>/metrics</c>, which needs no token.</summary>
    private static async Task<string> Scrape(ControllerRig rig)
    {
        using var anonymous = rig.Client(token: "");
        return await anonymous.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
    }

    private static double Sample(string metrics, string series) =>
        double.Parse(metrics.Split('\n').Single(line => line.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..],
            System.Globalization.CultureInfo.InvariantCulture);

    private static int MachinePid(string eventLog) => File.ReadLines(eventLog)
        .Select(line => JsonDocument.Parse(line).RootElement)
        .First(e => e.GetProperty("event").GetString() == "machine-started")
        .GetProperty("pid").GetInt32();
}
