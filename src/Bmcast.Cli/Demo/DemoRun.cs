using System.Diagnostics;
using Bmcast.Agent.Deploy;
using Bmcast.Agent.Host;
using Bmcast.Agent.ImageBuild;
using Bmcast.Agent.Serving;
using Bmcast.Agent.Streaming;
using Bmcast.Cli.Output;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Images;
using Bmcast.Machines.Qemu;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Bmcast.Cli.Demo;

/// <summary>
/// The quick start, all on this machine: build the <c>tiny-payload</c> sample OS (tiny plus data its boot never
/// reads, as most of a real OS image), serve it over an emulated link, then deploy it twice and compare: the classic
/// way (copy the image to the local disk, then boot) and bmcast's (boot at once from the streaming agent, the rest in
/// the background; pivot onto the local disk when the copy completes, then stop the machine). Both boots are real,
/// unmodified OS boots in QEMU.
/// </summary>
internal sealed class DemoRun(IAnsiConsole console, ILoggerFactory logging, string workspace, long linkBytesPerSecond)
{
    private const string ImageName = "tiny-payload";

    public async Task<bool> RunAsync(CancellationToken ct)
    {
        await AptPackages.EnsureAsync(HostTools.Machine(Firmware.Bios), Say, ct);
        Say($"building the {ImageName} sample OS image from Debian packages (cached after the first time)");
        var built = await new ImageBuilder(RecipeDirectory.Locate(), ImageCache.Default()).BuildAsync(ImageName, false, step => Say(step), ct);
        var store = ImageStore.Open(Path.Combine(workspace, "store"));
        await new ImageImporter(store).ImportAsync(built.Path, new ImportOptions(ImageName, Format: DiskImageFormat.Raw), cancellationToken: ct);
        var manifest = store.ReadManifest(ImageName);

        string serverSocket = Path.Combine(workspace, "server.sock");
        await using var server = new ImageServerHost(store, new ImageServerOptions { Nbd = NbdEndpoint.Unix(serverSocket), LinkBytesPerSecond = linkBytesPerSecond }, logging);
        await server.StartAsync(ct);
        Say($"image server on {serverSocket}, over an emulated {ByteSize.Format(linkBytesPerSecond)}/s link");

        Heading("1. the classic way: copy the image to the local disk, then boot it");
        var copyClock = Stopwatch.StartNew();
        string copy = Path.Combine(workspace, "copied.raw");
        await CopyImageAsync(NbdEndpoint.Unix(serverSocket), manifest, copy, ct);
        var copyTime = copyClock.Elapsed;
        var localBoot = await BootLocalAsync(copy, ct);
        Say($"copied in {copyTime.TotalSeconds:0.00} s, booted in {localBoot.TotalSeconds:0.00} s");

        Heading("2. bmcast: boot at once from the streaming agent, the rest in the background, pivot to the local disk when complete");
        string target = Path.Combine(workspace, "target.raw");
        string agentSocket = Path.Combine(workspace, "agent.sock");
        var stream = new StreamRequest([$"nbd+unix:///{ImageName}?socket={serverSocket}"], target, target + ".bmcast-state",
            NbdEndpoint.Unix(agentSocket), null, null, Path.Combine(workspace, "known_keys"), new StreamingOptions());
        // The guest stays up, so that it is still running when the copy completes and is pivoted; then it is stopped.
        var machine = new MachineSpec(agentSocket, workspace, 512, GuestMode: "stay", ConsoleLog: target + ".console.log");
        var watch = new DemoDeploymentWatch(new ConsoleStreamReporter(Console.Out, "Pivoting the guest onto the local disk."));
        var deploy = new DeployRun(new DeployRequest(stream, machine), watch, logging);
        var run = deploy.RunAsync(ct);
        await Task.WhenAny(Task.WhenAll(watch.Pivot, deploy.Ready), run);
        if (!run.IsCompleted)
        {
            Say(await watch.Pivot is null
                ? "the guest runs on its local disk alone, nothing passes through bmcast any more: stopping its machine"
                : "stopping the machine");
            watch.StopMachine();
        }
        await run;
        var ready = await deploy.Ready;
        if (!watch.Pivot.IsCompleted || await watch.Pivot is { } pivotError)
        {
            console.MarkupLineInterpolated($"[red]demo failed:[/] the guest was not pivoted onto its local disk: {(watch.Pivot.IsCompleted ? await watch.Pivot : "its machine exited first")}");
            return false;
        }
        Say("after the pivot the local disk is the machine's only disk: booting it alone");
        var alone = await BootLocalAsync(target, ct);

        long data = manifest.NonZeroChunkCount * manifest.ChunkSize;
        var copyReady = copyTime + localBoot;
        var atReady = watch.Ready!;
        var table = new Table().Title($"bmcast demo: {ImageName} over a {ByteSize.Format(linkBytesPerSecond)}/s link").AddColumns("", "copy, then boot", "bmcast");
        table.AddRow("time to ready (marker)", $"{copyReady.TotalSeconds:0.00} s", $"{ready.TotalSeconds:0.00} s");
        table.AddRow("delay (minus local boot)", $"{copyTime.TotalSeconds:0.00} s", $"{Math.Max(0, (ready - localBoot).TotalSeconds):0.00} s");
        table.AddRow("fetched before ready", $"{ByteSize.Format(data)} (all)", ByteSize.Format(atReady.OnDemandBytes + atReady.BackgroundBytes));
        table.AddRow("  of which on demand", "-", ByteSize.Format(atReady.OnDemandBytes));
        table.AddRow("local disk complete", $"{copyTime.TotalSeconds:0.00} s (then boot)", $"{watch.CompletedAt?.TotalSeconds:0.00} s (guest running)");
        table.AddRow("pivot onto the local disk", "-", $"{(await deploy.Pivoted).TotalMilliseconds:0} ms");
        table.AddRow("local disk boots alone", "yes", $"yes, ready in {alone.TotalSeconds:0.00} s");
        console.Write(table);
        console.MarkupLine(atReady.OnDemandBytes + atReady.BackgroundBytes < data
            ? $"[grey]The guest was ready after {ByteSize.Format(atReady.OnDemandBytes + atReady.BackgroundBytes)} of its {ByteSize.Format(data)}; "
              + "the rest arrived in the background while it ran. Copying first made it wait for all of it. "
              + "A real OS image gains more still (bench/deploy.sh --image debian-db).[/]"
            : $"[grey]On this machine the guest's boot took longer than copying all {ByteSize.Format(data)} over this link, "
              + "so the copy was complete by ready; a slower --rate shows the difference.[/]");
        return true;
    }

    /// <summary>What nbdcopy does: fetch every chunk with data (holes are skipped) into a local sparse file.</summary>
    private static async Task CopyImageAsync(NbdEndpoint server, Manifest manifest, string path, CancellationToken ct)
    {
        await using var client = await NbdClient.ConnectAsync(server, ImageName, ct);
        await using var file = FileBlockDevice.OpenOrCreate(path, manifest.ImageSize);
        var buffer = new byte[manifest.ChunkSize];
        for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
        {
            if (manifest.IsZeroChunk(chunk))
                continue;
            var piece = buffer.AsMemory(0, manifest.ChunkLength(chunk));
            await client.ReadAsync(chunk * manifest.ChunkSize, piece, ct);
            await file.WriteAsync(chunk * manifest.ChunkSize, piece, false, ct);
        }
        await file.FlushAsync(ct);
    }

    /// <summary>Boot a local disk to its marker (it powers off after); fails if it never gets there.</summary>
    private async Task<TimeSpan> BootLocalAsync(string disk, CancellationToken ct)
    {
        var spec = new MachineSpec("", workspace, 512, GuestMode: "poweroff", ConsoleLog: disk + ".console.log", LocalDisk: disk);
        await using var machine = await QemuMachine.StartAsync(spec, logging.CreateLogger("bmcast.demo"), ct);
        var ready = await machine.WaitForConsoleAsync(DeployRun.ReadyMarker).WaitAsync(TimeSpan.FromMinutes(5), ct);
        await machine.WaitForExitAsync(ct);
        return ready;
    }

    private void Say(string text) => console.MarkupLineInterpolated($"[grey]demo:[/] {text}");

    private void Heading(string text) => console.MarkupLineInterpolated($"[bold]{text}[/]");
}
