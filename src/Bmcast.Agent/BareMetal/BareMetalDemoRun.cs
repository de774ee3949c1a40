using System.Diagnostics;
using Bmcast.Agent.Events;
using Bmcast.Agent.Host;
using Bmcast.Agent.ImageBuild;
using Bmcast.Images;
using Bmcast.Machines.BareMetal;
using Bmcast.Machines.Qemu;

namespace Bmcast.Agent.BareMetal;

/// <summary>What a bare-metal demo ended with; <see cref="Succeeded"/> only when every stage happened and the disk equals the image.</summary>
public sealed record BareMetalDemoResult(string Image, string Accelerator, TimeSpan TimeToReady, HypervisorCounts? AtReady, HypervisorCounts Completed,
    TimeSpan CompletedAt, TimeSpan DevirtualizedAt, DiskComparison Comparison, bool AllPresent)
{
    public bool Succeeded => Comparison.Equal && AllPresent;
}

/// <summary>
/// <c>bmcast demo --bare-metal</c>: a bare-metal deployment on this machine. Builds the hypervisor and the sample
/// image, imports it into a private store, serves it over AoE (<c>bmcast serve --aoe</c>, emulated link) on a tap in a
/// namespace of its own, and powers on a QEMU machine (OVMF, the hypervisor's boot drive, an EMPTY NVMe disk, the
/// hidden e1000; SMBIOS: the AoE address and the pinned manifest root). The hypervisor's serial events become
/// <see cref="DeploymentEvent"/>s: streaming, progress, the guest's ready marker, completion. At completion the
/// hypervisor holds the guest (<c>bmcast.vmm.hold-at-complete</c>: it prints its maps, then waits for a byte on the
/// serial console), so the disk is quiescent and its written map exact while the local disk is compared with the image
/// (every chunk the guest did not write must hold the image's bytes); then the host releases it, waits until the
/// hypervisor de-virtualizes and watches the OS run on for a few seconds. The guest runs <paramref name="guestMode"/> after its marker (images/README.md; a mode
/// that powers off ends the demo before completion). Everything (namespace, tap, QEMU, server) is removed on every
/// path; the caller owns <c>workspace</c>.
/// </summary>
public sealed class BareMetalDemoRun(string workspace, string imageName, long linkBytesPerSecond, IDeploymentEventSink events, Action<string> say,
    string guestMode = BareMetalDemoRun.DefaultGuestMode)
{
    /// <summary>The guest idles after its marker, so the background copy gets its HLTs.</summary>
    public const string DefaultGuestMode = "stay";

    private static readonly TimeSpan StageTimeout = TimeSpan.FromMinutes(15);

    /// <summary>How long the de-virtualized OS is watched before the demo ends.</summary>
    private static readonly TimeSpan AfterLeave = TimeSpan.FromSeconds(5);

    private readonly Stopwatch _clock = new();
    private readonly TaskCompletionSource<TimeSpan> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<(TimeSpan At, HypervisorCounts Counts)> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<VmmEvent> _presence = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<TimeSpan> _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<TimeSpan> _left = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HypervisorCounts? _lastProgress;

    public async Task<BareMetalDemoResult> RunAsync(CancellationToken ct)
    {
        if (!Environment.IsPrivilegedProcess)
            throw new UnauthorizedAccessException("demo --bare-metal needs root: it creates a network namespace with a tap device and serves AoE on a raw socket");
        await AptPackages.EnsureAsync(HostTools.BareMetalMachine, say, ct);
        say("building the hypervisor (vmm/build.sh; quick when nothing changed)");
        string efi = await VmmBuild.BuildAsync(ct);
        string bootDrive = Path.Combine(workspace, "vmm-boot.img");
        await VmmBuild.CreateBootDriveAsync(efi, bootDrive, ct);
        say($"building the {imageName} sample OS image from Debian packages (cached after the first time)");
        var built = await new ImageBuilder(RecipeDirectory.Locate(), ImageCache.Default()).BuildAsync(imageName, false, say, ct);
        string storePath = Path.Combine(workspace, "store");
        var store = ImageStore.Open(storePath);
        await new ImageImporter(store).ImportAsync(built.Path, new ImportOptions(imageName, Format: DiskImageFormat.Raw), cancellationToken: ct);
        var manifest = store.ReadManifest(imageName);

        string target = Path.Combine(workspace, "local-disk.raw");
        await using (var disk = File.Create(target))
            disk.SetLength(manifest.ImageSize + HiddenTailBytes);   // sparse: an empty disk reads as zeros
        say($"local disk: empty, {ByteSize.Format(manifest.ImageSize)} for the image + {ByteSize.Format(HiddenTailBytes)} the hypervisor hides for its presence map");

        await using var network = await NetworkNamespace.CreateAsync(1500, ct);
        await using var server = await AoeServerProcess.StartAsync(network, storePath, Shelf, linkBytesPerSecond, Path.Combine(workspace, "server.log"), ct);
        say($"bmcast serve --aoe on {network.Interface} in namespace {network.Name} (e{Shelf}.0), over an emulated {ByteSize.Format(linkBytesPerSecond)}/s link");

        string accelerator = await BareMetalCommandLine.AcceleratorAsync();
        string qmp = Path.Combine(workspace, "qmp.sock");
        string[] smbios = ["bmcast.vmm.nvme=trap", $"bmcast.vmm.aoe=e{Shelf}.0", "bmcast.vmm.root=" + manifest.RootHashHex,
            "bmcast.vmm.hold-at-complete", "bmcast.mode=" + guestMode];
        var spec = new BareMetalSpec(bootDrive, target, network.Interface, smbios);
        _clock.Start();
        await using var machine = await QemuMachine.StartAsync(network.Exec(["qemu-system-x86_64", .. BareMetalCommandLine.For(spec, accelerator, qmp)]),
            accelerator, qmp, Path.Combine(workspace, "console.log"), ct);
        events.Publish(new MachineStarted(_clock.Elapsed, accelerator, machine.Pid));
        machine.WatchConsole(VmmEvent.Prefix, OnEvent);
        machine.WatchConsole(Deploy.DeployRun.ReadyMarker, _ => _ready.TrySetResult(_clock.Elapsed));
        var exited = machine.WaitForExitAsync(ct);

        // The ready marker, unless the disk completes first: then the guest is held and prints it once released.
        await StageAsync(Task.WhenAny(_ready.Task, _held.Task), exited, "the guest's ready marker", ct);
        (TimeSpan At, HypervisorCounts? Counts)? ready = _ready.Task.IsCompleted ? await PublishReadyAsync(machine, ct) : null;

        var (completedAt, completed) = await StageAsync(_completed.Task, exited, "completion (event=complete)", ct);
        var presence = await StageAsync(_presence.Task, exited, "the presence maps at completion", ct);
        await StageAsync(_held.Task, exited, "the hypervisor's hold at completion (event=held)", ct);
        // Held since it printed the maps, the guest has written nothing the written map does not list. Paused too, so
        // that its clock stands still while the disk is read.
        await machine.Qmp.ExecuteAsync("stop", null, ct);
        var comparison = await DiskComparison.CompareAsync(built.Path, target, manifest, presence.Map("written_map", manifest.ChunkCount), ct);
        bool allPresent = !presence.Map("present_map", manifest.ChunkCount).Contains(false);
        events.Publish(new DiskVerified(_clock.Elapsed, comparison.Equal && allPresent, comparison.ComparedChunks, comparison.GuestWrittenChunks,
            comparison.DifferingChunks, comparison.Differing));
        await machine.Qmp.ExecuteAsync("cont", null, ct);
        await machine.WriteConsoleAsync("\n", ct);   // the release

        if (ready is null)
        {
            await StageAsync(_ready.Task, exited, "the guest's ready marker", ct);
            ready = await PublishReadyAsync(machine, ct);
        }
        var left = await StageAsync(_left.Task, exited, "de-virtualization (event=devirtualized)", ct);
        // The OS goes on without the hypervisor: the machine must keep running (QEMU has -no-reboot: a crash or reset ends it).
        if (await Task.WhenAny(exited, Task.Delay(AfterLeave, ct)) == exited)
            throw new IOException($"the machine stopped within {AfterLeave.TotalSeconds:0} s of de-virtualization; see the console log");
        ct.ThrowIfCancellationRequested();
        say($"the OS ran on bare hardware for {AfterLeave.TotalSeconds:0} s after de-virtualization");
        return new BareMetalDemoResult(imageName, accelerator, ready.Value.At, ready.Value.Counts, completed, completedAt, left, comparison, allPresent);
    }

    /// <summary>The ready event, once the marker was seen: with QEMU's read count and the hypervisor's last progress.</summary>
    private async Task<(TimeSpan At, HypervisorCounts? Counts)> PublishReadyAsync(QemuMachine machine, CancellationToken ct)
    {
        var at = await _ready.Task;
        long guestRead = await machine.GuestBytesReadAsync(ct);
        var counts = _lastProgress;
        events.Publish(new GuestReady(at, at, guestRead, counts?.OnDemandBytes ?? 0, counts?.BackgroundBytes ?? 0));
        return (at, counts);
    }

    /// <summary>The hypervisor's hidden tail by default (bmcast.vmm.nvme-tail: 256 blocks of 4 KiB).</summary>
    public const long HiddenTailBytes = 1 << 20;

    /// <summary>The AoE shelf the image is served on (its slot is 0 in the private store); its manifest is on the next.</summary>
    private const ushort Shelf = 1;

    private async Task<T> StageAsync<T>(Task<T> stage, Task exited, string what, CancellationToken ct)
    {
        var first = await Task.WhenAny(stage, exited, Task.Delay(StageTimeout, ct));
        if (first == stage)
            return await stage;
        ct.ThrowIfCancellationRequested();
        throw new IOException(first == exited
            ? $"the machine stopped before {what}; see the console log"
            : $"no {what} within {StageTimeout.TotalMinutes:0} minutes");
    }

    private void OnEvent(string line)
    {
        if (VmmEvent.TryParse(line) is not { } e)
            return;
        var now = _clock.Elapsed;
        switch (e.Name)
        {
            case "streaming":
                events.Publish(new HypervisorStreaming(now, e.Number("image_bytes"), e.Number("chunks"), e.Number("zero_chunks"), e.Number("present"),
                    e.Number("reserved_bytes")));
                break;
            case "progress":
                _lastProgress = CountsOf(e);
                events.Publish(new HypervisorProgressed(now, _lastProgress));
                break;
            case "complete":
                _lastProgress = CountsOf(e);
                events.Publish(new HypervisorCompleted(now, _lastProgress));
                _completed.TrySetResult((now, _lastProgress));
                break;
            case "presence" when _completed.Task.IsCompleted:
                _presence.TrySetResult(e);
                break;
            case "held":
                _held.TrySetResult(now);
                break;
            case "devirtualized":
                events.Publish(new HypervisorLeft(now, e.Number("exits")));
                _left.TrySetResult(now);
                break;
            case "error":
                events.Publish(new HypervisorFailed(now, e.Text("reason"), e.Number("chunk")));
                break;
        }
    }

    private static HypervisorCounts CountsOf(VmmEvent e) => new(e.Number("present"), e.Number("chunks"), e.Number("present_percent"),
        e.Number("on_demand_bytes"), e.Number("background_bytes"), e.Number("fetched_chunks"), e.Number("zero_filled"), e.Number("guest_owned"));
}
