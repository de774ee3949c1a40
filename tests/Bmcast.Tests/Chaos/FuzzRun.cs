using Bmcast.Chaos;
using Bmcast.Chaos.Fuzz;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Chaos;

/// <summary>Runs <see cref="FuzzCampaign"/> in process, as <c>bmcast chaos fuzz</c> does, and returns its tally.</summary>
internal static class FuzzRun
{
    /// <summary>The campaign over only the targets named.</summary>
    public static Task<ChaosTally> TargetsAsync(int runs, int seed, params string[] names) =>
        RunAsync(new FuzzCampaign(async (context, ct) =>
        {
            var all = await FuzzTargets.CreateAllAsync(context, ct);
            foreach (var unused in all.Where(t => !names.Contains(t.Name)))
                await unused.DisposeAsync();
            return [.. all.Where(t => names.Contains(t.Name))];
        }, new FuzzLimits()), runs, seed);

    public static async Task<ChaosTally> RunAsync(FuzzCampaign campaign, int runs, int seed)
    {
        using var workspace = new TempDirectory();
        var tally = new ChaosTally(campaign.LossCounters);
        var context = new ChaosContext(workspace.Path, seed, tally, NullLogger.Instance, _ => { });
        await campaign.RunAsync(context, runs, TestContext.Current.CancellationToken);
        return tally;
    }

    /// <summary>The summary line and every loss's detail, for assertion messages.</summary>
    public static string Describe(ChaosTally tally, int runs) =>
        string.Join("\n", [tally.Summary("fuzz", runs), .. tally.Details]);
}
