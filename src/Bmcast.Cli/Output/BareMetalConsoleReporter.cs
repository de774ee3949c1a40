using Bmcast.Agent.BareMetal;
using Bmcast.Agent.Events;
using Bmcast.Images;
using Spectre.Console;

namespace Bmcast.Cli.Output;

/// <summary>
/// For a person watching <c>bmcast demo --bare-metal</c>: one line per stage of the hypervisor's deployment (progress
/// at most every few seconds: bytes on demand and in the background, % present), then a summary table.
/// </summary>
internal sealed class BareMetalConsoleReporter(IAnsiConsole console) : IDeploymentEventSink
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(3);
    private TimeSpan _lastProgress = -ProgressInterval;

    public void Publish(DeploymentEvent deploymentEvent)
    {
        switch (deploymentEvent)
        {
            case MachineStarted e:
                Line(e.Time, $"machine powered on ({e.Accelerator}, QEMU pid {e.Pid}): OVMF starts bmcast-vmm.efi from its boot drive");
                break;
            case HypervisorStreaming e:
                Line(e.Time, $"hypervisor: manifest matches the pinned root; streaming {e.Chunks} chunks ({e.ZeroChunks} all-zero) of "
                    + $"{ByteSize.Format(e.ImageBytes)}, {e.PresentChunks} present; the OS boots now");
                break;
            case HypervisorProgressed e when e.Time - _lastProgress >= ProgressInterval:
                _lastProgress = e.Time;
                Line(e.Time, Counts(e.Counts));
                break;
            case GuestReady e:
                Line(e.Time, $"[green]guest ready[/] (BMCAST-READY) after {e.TimeToReady.TotalSeconds:0.0} s; it had read "
                    + $"{ByteSize.Format(e.GuestReadBytes)}, {ByteSize.Format(e.OnDemandBytes)} fetched on demand");
                break;
            case HypervisorCompleted e:
                Line(e.Time, $"[green]complete[/]: {Counts(e.Counts)}");
                break;
            case DiskVerified e:
                Line(e.Time, e.Equal
                    ? $"[green]local disk equals the image[/]: {e.ComparedChunks} chunks compared, {e.GuestWrittenChunks} written by the guest "
                        + "(read while the hypervisor held the guest)"
                    : $"[red]local disk differs from the image[/] in {e.DifferingChunks} chunks (first: {string.Join(", ", e.Differing)})");
                break;
            case HypervisorLeft e:
                Line(e.Time, $"[green]de-virtualized[/]: SVM off after {e.Exits} exits; the OS runs on the bare machine");
                break;
            case HypervisorFailed e:
                Line(e.Time, $"[red]hypervisor error[/] {e.Reason} (chunk {e.Chunk}): the guest's command gets an I/O error");
                break;
        }
    }

    public void Summarize(BareMetalDemoResult result)
    {
        var table = new Table().Title($"bmcast demo --bare-metal: {result.Image} ({result.Accelerator})").AddColumns("", "");
        table.AddRow("time to ready (marker)", $"{result.TimeToReady.TotalSeconds:0.0} s");
        table.AddRow("fetched on demand by then", result.AtReady is { } r ? ByteSize.Format(r.OnDemandBytes) : "-");
        table.AddRow("complete", $"{result.CompletedAt.TotalSeconds:0.0} s: {ByteSize.Format(result.Completed.OnDemandBytes)} on demand, "
            + $"{ByteSize.Format(result.Completed.BackgroundBytes)} background, {result.Completed.ZeroFilledChunks} zero chunks written");
        table.AddRow("de-virtualized", $"{result.DevirtualizedAt.TotalSeconds:0.0} s");
        table.AddRow("local disk vs image", result.Succeeded ? "equal (plus the guest's writes)" : "[red]DIFFERENT[/]");
        console.Write(table);
    }

    private void Line(TimeSpan time, string markup) => console.MarkupLine($"[grey]{time.TotalSeconds,6:0.0} s[/] {markup}");

    private static string Counts(HypervisorCounts c) =>
        $"{c.PresentPercent}% present ({c.PresentChunks}/{c.Chunks} chunks): {ByteSize.Format(c.OnDemandBytes)} on demand, {ByteSize.Format(c.BackgroundBytes)} background";
}
