using System.CommandLine;
using System.Diagnostics;
using Bmcast.Agent.Events;
using Bmcast.Agent.Streaming;
using Bmcast.Cli.Output;
using Bmcast.Core.Manifests;
using Bmcast.Engine;
using Bmcast.Engine.Verification;
using Bmcast.Protocols.Nbd;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast stream</c>: the streaming agent. Makes a local target file usable at once as a
/// read-write NBD export while the image streams into it, and keeps serving it after completion
/// until stopped (Ctrl-C or SIGTERM). Running the same command again resumes.
/// </summary>
internal static class StreamCommand
{
    public static Command Create()
    {
        var options = new StreamingOptionSet();
        var export = new Option<string>("--export") { Description = "Where to export the disk over NBD: HOST:PORT or unix:PATH", HelpName = "ENDPOINT", Required = true };
        var command = new Command("stream", "Stream an image onto a local disk and export it over NBD while it streams");
        options.AddTo(command);
        command.Options.Add(export);
        LongRunningCommand.BindWithMetrics(command, "bmcast.stream", async (parseResult, logging, cancellationToken) =>
        {
            var request = options.ToRequest(parseResult, NbdEndpoint.Parse(parseResult.GetValue(export)!));
            var output = parseResult.GetValue(options.Json)
                ? (IDeploymentEventSink)new JsonDeploymentEvents(new JsonEventWriter(parseResult.InvocationConfiguration.Output))
                : new ConsoleStreamReporter(parseResult.InvocationConfiguration.Output, "Still exporting until stopped (Ctrl-C).");
            await new StreamAgent(request, output, logging).RunAsync(cancellationToken);
        });
        return command;
    }
}
