using Bmcast.Engine;
using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Metrics;

/// <summary>
/// <c>bmcast stream --metrics</c> scraped while it streams: the background copy and the share present move between
/// scrapes, a guest read through the export shows as guest I/O, and at completion the fetched bytes, chunk counts and
/// the fetch latency histogram agree exactly with what was moved (and with the agent's own JSON events).
/// </summary>
public sealed class StreamMetricsTests
{
    private const int ChunkSize = 64 << 10;
    private const int DataBytes = 16 << 20;
    private const int ImageBytes = 24 << 20;

    [Fact]
    public async Task Stream_metrics_follow_the_copy_and_the_guest_io()
    {
        var ct = TestContext.Current.CancellationToken;
        using var scratch = new TempDirectory();
        var image = new byte[ImageBytes];
        new Random(11).NextBytes(image.AsSpan(0, DataBytes)); // then 8 MiB of zero chunks, filled without a fetch
        string imagePath = scratch.File("image.raw");
        await File.WriteAllBytesAsync(imagePath, image, ct);
        await using var rig = await DeploymentRig.StartAsync(imagePath, "disk");
        string export = rig.Directory.File("agent.sock");
        // A capped background copy (8 s for the data) keeps the stream going across the first scrapes.
        var agent = await rig.StartAgentAsync("disk", rig.Directory.File("target.raw"), export, "--bandwidth", "2M", "--metrics", "127.0.0.1:0");
        var url = await PrometheusPage.UrlOfAsync(agent, ct);

        var first = await PrometheusPage.ScrapeAsync(url, ct);
        await ExternalTool.RunCheckedAsync("qemu-io", "-f", "raw", "-r", "-c", "read 12M 1M", $"nbd+unix:///?socket={export}");
        await Task.Delay(TimeSpan.FromSeconds(1.5), ct);
        var second = await PrometheusPage.ScrapeAsync(url, ct);
        var complete = await agent.WaitForEventAsync("complete", TimeSpan.FromMinutes(3));
        var last = await PrometheusPage.ScrapeAsync(url, ct);

        Assert.True(Fetched(second, "background") > Fetched(first, "background"), "the background copy did not move between scrapes");
        double present = second.Single("bmcast_engine_present_ratio");
        Assert.True(present > first.Single("bmcast_engine_present_ratio") && present < 1, $"present ratio {present} while streaming");
        Assert.True(second.Single("bmcast_engine_guest_bytes_total", "op=read") >= 1 << 20);
        Assert.True(second.Sum("bmcast_nbd_requests_total", "command=read") >= 1, "the agent's export counted no read");

        // At completion every data chunk was fetched exactly once, each zero chunk filled without a fetch.
        Assert.Equal(complete.GetProperty("on_demand_bytes").GetInt64(), Fetched(last, "on_demand"));
        Assert.Equal(complete.GetProperty("background_bytes").GetInt64(), Fetched(last, "background"));
        Assert.Equal(DataBytes, Fetched(last, "on_demand") + Fetched(last, "background"));
        Assert.Equal((ImageBytes - DataBytes) / ChunkSize, last.Single("bmcast_engine_zero_chunks_total"));
        // A fetch is one source read: a chunk, or a background run of adjacent chunks (up to BackgroundRunChunks).
        double dataChunks = DataBytes / ChunkSize;
        Assert.InRange(last.Sum("bmcast_engine_fetch_duration_seconds_count"), dataChunks / new StreamingOptions().BackgroundRunChunks, dataChunks - 1);
        Assert.True(last.Sum("bmcast_engine_fetch_duration_seconds_count", "priority=background") > 0);
        foreach (string priority in new[] { "on_demand", "background" }.Where(p => last.Sum("bmcast_engine_fetch_duration_seconds_count", "priority=" + p) > 0))
            Assert.Equal(last.Sum("bmcast_engine_fetch_duration_seconds_count", "priority=" + priority),
                last.Single("bmcast_engine_fetch_duration_seconds_bucket", "priority=" + priority, "le=+Inf"));
        Assert.True(last.Matching("bmcast_engine_fetch_duration_seconds_bucket", "priority=background").Count() >= 10, "too few latency buckets");
        Assert.Equal(0, last.Sum("bmcast_engine_verification_failures_total"));
        Assert.Equal(1, last.Single("bmcast_engine_present_ratio"));
        Assert.Equal(ImageBytes, last.Single("bmcast_engine_present_bytes"));
        Assert.Equal(ImageBytes, last.Single("bmcast_engine_disk_size_bytes"));
        foreach (var page in new[] { first, second, last })
            page.AssertFollowsNamingRules();
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
    }

    private static double Fetched(PrometheusPage page, string priority) => page.Sum("bmcast_engine_fetched_bytes_total", "priority=" + priority);
}
