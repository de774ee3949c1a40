using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.TestKit.Processes;
using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos;

/// <summary>
/// <c>bmcast chaos power-cut</c>: deployments whose streaming agent is killed with SIGKILL at random
/// moments while a guest writes and flushes through it, then restarted onto the same target until
/// the deployment completes. Every flushed write must survive each cut, every block must end as the
/// image or a write the guest made, and the finished target must equal the image with the surviving
/// writes applied.
/// </summary>
public sealed class PowerCutCampaign : IChaosCampaign
{
    private const int ImageSize = 16 << 20;
    // Slow enough that cuts land mid-copy: about two seconds of background copying per deployment.
    private const string Bandwidth = "6M";

    public string Name => "power-cut";

    public string Description => "Kill the streaming agent (SIGKILL) at random moments while a guest writes and flushes; restart until complete; no flushed write may be lost";

    public string RunUnit => "deployments";

    public int DefaultRuns => 100;

    public IReadOnlyList<string> LossCounters { get; } = ["lost_writes", "corrupt_blocks"];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        var image = SyntheticImage.Create(ImageSize, context.Random);
        await using var rig = await ChaosRig.ImportAsync(context.Directory("rig"), image, ct);
        await rig.ServeAsync(ct);
        for (int run = 1; run <= runs; run++)
        {
            await DeployWithCutsAsync(context, rig, image, context.Directory($"run-{run}"), ct);
            await rig.ForgetExitedAsync();
            context.RunFinished(run);
        }
    }

    private static async Task DeployWithCutsAsync(ChaosContext context, ChaosRig rig, SyntheticImage image, string directory, CancellationToken ct)
    {
        var random = context.Random;
        var tally = context.Tally;
        string target = Path.Combine(directory, "target.raw");
        string export = Path.Combine(directory, "agent.sock");
        var exportUri = NbdUri.Create(NbdEndpoint.Unix(export), "");
        var ledger = new WriteLedger();
        var writer = new LedgerWriter(ledger, image, context.Fork());

        int cuts = random.Next(1, 4);
        for (int cut = 0; cut <= cuts; cut++)
        {
            var agent = await rig.StartAgentAsync(rig.SourceUri, target, export, "--bandwidth", Bandwidth);
            await using var client = await NbdClient.ConnectAsync(exportUri, ct);
            if (cut > 0)
                LedgerVerdicts.Record(tally, await writer.SettleAsync(client, ct), $"after cut {cut}");
            using var stop = new CancellationTokenSource();
            var writing = writer.WriteUntilAsync(client, stop.Token);
            if (cut < cuts)
            {
                await Task.Delay(random.Next(50, 1500), ct);
                await agent.KillHardAsync();
                tally.Add("cuts");
                await writing;
                continue;
            }
            // The last stretch: the guest writes a little longer, then idles so the copy can finish.
            await Task.Delay(random.Next(50, 1000), ct);
            await stop.CancelAsync();
            await writing;
            await ChaosRig.FinishAsync(tally, new ChaosDeployment(directory, target, agent, client), writer, ct);
        }
        context.Log.LogDebug("deployment in {Directory}: {Cuts} cuts, {Blocks} blocks written", directory, cuts, ledger.Blocks.Count);
    }
}
