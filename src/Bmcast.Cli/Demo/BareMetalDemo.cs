using Bmcast.Agent;
using Bmcast.Agent.BareMetal;
using Bmcast.Agent.Events;
using Bmcast.Cli.Commands;
using Bmcast.Cli.Output;
using Spectre.Console;

namespace Bmcast.Cli.Demo;

/// <summary>
/// <c>bmcast demo --bare-metal</c> (<see cref="BareMetalDemoRun"/>) in a scratch directory removed afterwards: the stages
/// on the console, or with <c>--json</c> one event per line on stdout (what it is doing goes to stderr then). Exit 0 only
/// when the guest was ready, the disk completed, the hypervisor de-virtualized and the disk equals the image.
/// </summary>
internal static class BareMetalDemo
{
    public static async Task<int> RunAsync(string image, string guestMode, long bytesPerSecond, bool json, bool keep, TextWriter output, CancellationToken ct)
    {
        var console = json ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }) : AnsiConsole.Console;
        var reporter = new BareMetalConsoleReporter(console);
        IDeploymentEventSink events = json ? new JsonDeploymentEvents(new JsonEventWriter(output)) : reporter;
        string workspace = Directory.CreateTempSubdirectory("bmcast-demo-").FullName;
        try
        {
            var run = new BareMetalDemoRun(workspace, image, bytesPerSecond, events, text => console.MarkupLineInterpolated($"[grey]demo:[/] {text}"), guestMode);
            var result = await run.RunAsync(ct);
            if (!json)
                reporter.Summarize(result);
            return result.Succeeded ? ExitCodes.Success : ExitCodes.Failed;
        }
        catch (Exception e) when (OperatorError.Is(e))
        {
            console.MarkupLineInterpolated($"[red]demo failed:[/] {e.Message}");
            return ExitCodes.Failed;
        }
        finally
        {
            if (keep)
                console.MarkupLineInterpolated($"kept {workspace}");
            else
                Directory.Delete(workspace, recursive: true);
        }
    }
}
