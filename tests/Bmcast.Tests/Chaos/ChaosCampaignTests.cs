using System.Text.Json;

namespace Bmcast.Tests.Chaos;

/// <summary>
/// The chaos campaigns at the reduced counts CI affords, through the real CLI: each must finish with
/// its summary line and no loss. Full counts are recorded in docs/reliability.md.
/// </summary>
public sealed class ChaosCampaignTests
{
    private static async Task<JsonElement> RunCampaignAsync(string campaign, int runs, TimeSpan timeout)
    {
        var (code, output, error) = await BmcastProcess.RunAsync(timeout, "chaos", campaign, "--runs", runs.ToString(), "--json");
        string? summaryLine = output.Split('\n').LastOrDefault(l => l.Contains("\"summary\""));
        Assert.True(summaryLine is not null, $"no summary event (exit {code}); stderr:\n{error}");
        var summary = JsonDocument.Parse(summaryLine).RootElement.Clone();
        Assert.True(code == 0, $"chaos {campaign} exited {code}: {summary.GetProperty("line").GetString()}\n{error}");
        Assert.Equal(runs, summary.GetProperty("runs").GetInt32());
        return summary;
    }

    [Fact]
    public async Task Power_cut_ten_deployments_lose_no_flushed_write()
    {
        var summary = await RunCampaignAsync("power-cut", 10, TimeSpan.FromMinutes(5));
        Assert.Equal(0, summary.GetProperty("lost_writes").GetInt64());
        Assert.Equal(0, summary.GetProperty("corrupt_blocks").GetInt64());
        Assert.True(summary.GetProperty("cuts").GetInt64() >= 10);
        Assert.True(summary.GetProperty("flushes_acknowledged").GetInt64() > 0);
    }
}
