using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.TestKit.Mounts;
using Bmcast.TestKit.Processes;
using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos;

/// <summary>
/// <c>bmcast chaos disk-faults</c>: deployments onto a target whose file system (a size-limited tmpfs)
/// fills up part way through the copy while a guest writes and flushes. Only requests that need new
/// space may fail: a flush, a read of a block the guest wrote, or a write to blocks the guest wrote
/// before failing is a <c>spurious_errors</c> loss. Then the space comes back (a remount with a
/// larger size) and the deployment must complete with every acknowledged write in place. Needs root.
/// </summary>
public sealed class DiskFaultsCampaign : IChaosCampaign
{
    private const int ImageSize = 8 << 20;
    private const string Bandwidth = "8M";
    // Free space under which the file system counts as full: less than one chunk of the copy.
    private const long FullBelow = 64 << 10;
    private const int RewritesOnFullDisk = 32;
    private static readonly TimeSpan FillTimeout = TimeSpan.FromMinutes(1);

    public string Name => "disk-faults";

    public string Description => "Fill the target's file system mid-deployment while a guest writes and flushes, then give the space back; only requests needing space may fail, no acknowledged write may be lost (needs root)";

    public string RunUnit => "deployments";

    public int DefaultRuns => 20;

    public IReadOnlyList<string> LossCounters { get; } = ["lost_writes", "corrupt_blocks", "spurious_errors"];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("disk-faults needs root: it mounts a size-limited tmpfs for each target");
        var image = SyntheticImage.Create(ImageSize, context.Random);
        await using var rig = await ChaosRig.ImportAsync(context.Directory("rig"), image, ct);
        await rig.ServeAsync(ct);
        for (int run = 1; run <= runs; run++)
        {
            await DeployOntoFullDiskAsync(context, rig, image, context.Directory($"run-{run}"), ct);
            await rig.ForgetExitedAsync();
            context.RunFinished(run);
        }
    }

    private static async Task DeployOntoFullDiskAsync(ChaosContext context, ChaosRig rig, SyntheticImage image, string directory, CancellationToken ct)
    {
        var random = context.Random;
        var tally = context.Tally;
        // Room for between a sixteenth and a half of the image: its data (three quarters) never fits.
        long room = random.NextInt64(ImageSize / 16, ImageSize / 2) / WriteLedger.BlockSize * WriteLedger.BlockSize;
        await using var disk = await TmpfsMount.MountAsync(Path.Combine(directory, "disk"), room, ct);
        string target = Path.Combine(disk.Directory, "target.raw");
        string export = Path.Combine(directory, "agent.sock");
        var ledger = new WriteLedger();
        var writer = new LedgerWriter(ledger, image, context.Fork()) { OnRefused = refused => Count(tally, refused) };
        var agent = await rig.StartAgentAsync(rig.SourceUri, target, export, "--bandwidth", Bandwidth);
        try
        {
            await using var client = await NbdClient.ConnectAsync(NbdUri.Create(NbdEndpoint.Unix(export), ""), ct);
            await WriteWhileAsync(writer, client, async () =>
            {
                await WaitUntilFullAsync(disk, agent, ct);
                tally.Add("fills");
                // The guest keeps going on the full disk for a while.
                await Task.Delay(random.Next(100, 1000), ct);
            });
            // Blocks the guest wrote are allocated: writing them again needs no space and must work.
            await writer.RewriteAcknowledgedAsync(client, RewritesOnFullDisk);
            await ReadBackAsync(tally, ledger, writer, client, ct);

            await disk.ResizeAsync(2L * ImageSize, ct);
            await WriteWhileAsync(writer, client, () => Task.Delay(random.Next(50, 500), ct));
            await ChaosRig.FinishAsync(tally, new ChaosDeployment(directory, target, agent, client), writer, ct);
        }
        finally
        {
            // The target must be closed before its file system can be unmounted.
            if (!agent.HasExited)
                await agent.KillHardAsync();
        }
        context.Log.LogDebug("deployment in {Directory}: {Room} bytes of room, {Blocks} blocks written", directory, room, ledger.Blocks.Count);
    }

    /// <summary>Let the guest write until <paramref name="phase"/> is over.</summary>
    private static async Task WriteWhileAsync(LedgerWriter writer, NbdClient client, Func<Task> phase)
    {
        using var stop = new CancellationTokenSource();
        var writing = writer.WriteUntilAsync(client, stop.Token);
        try
        {
            await phase();
        }
        finally
        {
            await stop.CancelAsync();
            await writing;
        }
    }

    private static async Task WaitUntilFullAsync(TmpfsMount disk, BmcastProcess agent, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + FillTimeout;
        while (disk.FreeBytes >= FullBelow)
        {
            if (agent.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"the target's file system did not fill up ({disk.FreeBytes} bytes free); agent stderr:\n{agent.Stderr}");
            await Task.Delay(10, ct);
        }
    }

    /// <summary>On the full disk, blocks the guest wrote are present: reading them needs no space and must work.</summary>
    private static async Task ReadBackAsync(ChaosTally tally, WriteLedger ledger, LedgerWriter writer, NbdClient client, CancellationToken ct)
    {
        var actual = new byte[WriteLedger.BlockSize];
        foreach (long block in writer.AcknowledgedBlocks.Order())
        {
            try
            {
                await client.ReadAsync(block * WriteLedger.BlockSize, actual, ct);
            }
            catch (BlockDeviceException e)
            {
                tally.Loss("spurious_errors", $"read of written block {block} failed on the full disk: {e.Message}");
                continue;
            }
            var verdict = ledger.Judge(block, actual, writer.ImageBlock(block));
            if (!verdict.Allowed)
                LedgerVerdicts.Record(tally, block, verdict, "on the full disk");
        }
    }

    /// <summary>
    /// Every refused request counts; it is a loss when it needed no new space: a flush (the state file
    /// is preallocated and tmpfs syncs nothing) or a write to blocks that all held an acknowledged write.
    /// </summary>
    private static void Count(ChaosTally tally, RefusedRequest refused)
    {
        tally.Add("guest_errors");
        if (refused.Error.Errno == (int)NbdError.NoSpc)
            tally.Add("guest_enospc");
        if (refused.Command == "flush" || refused.Rewrite)
            tally.Loss("spurious_errors", $"{refused.Command} of {refused.Blocks} blocks at block {refused.FirstBlock} needed no new space but failed: {refused.Error.Message}");
    }
}
