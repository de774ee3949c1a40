using System.CommandLine;
using Bmcast.Controller.Hosting;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast controller --listen HOST:PORT</c>: the control plane (docs/controller.md). Each deployment it starts is
/// this same program's <c>deploy</c>, in a process of its own.
/// </summary>
internal static class ControllerCommand
{
    public static Command Create()
    {
        var store = StoreOption.Create();
        var listen = new Option<string>("--listen") { Description = "Where the HTTP API listens: HOST:PORT (port 0: any free port)", HelpName = "HOST:PORT", Required = true };
        var data = new Option<string?>("--data") { Description = "State directory: token, database, deployment logs (default: STORE/controller; required with a bucket store)", HelpName = "DIR" };
        var tokenFile = new Option<string?>("--token-file") { Description = "Read the API token from this file instead of generating DATA/token", HelpName = "FILE" };
        var targetsDir = new Option<string?>("--targets-dir") { Description = "Accept only deployment targets under this directory", HelpName = "DIR" };
        var rate = new Option<string?>("--rate") { Description = "Emulate a link of this many bytes per second on the controller's image server (demos, tests)", HelpName = "RATE" };
        var command = new Command("controller", "Run the control plane: REST API, live events, dashboard and metrics over this host's deployments");
        foreach (var option in new Option[] { store, listen, data, tokenFile, targetsDir, rate })
            command.Options.Add(option);
        LongRunningCommand.Bind(command, "bmcast.controller", async (parseResult, logging, cancellationToken) =>
        {
            string? storeLocation = parseResult.GetValue(store);
            var options = new ControllerOptions(
                parseResult.GetValue(listen)!,
                storeLocation,
                parseResult.GetValue(data) ?? DefaultData(storeLocation),
                parseResult.GetValue(tokenFile),
                parseResult.GetValue(targetsDir),
                Self())
            {
                LinkBytesPerSecond = ServeCommand.ParseRate(parseResult.GetValue(rate)),
            };
            await ControllerHost.RunAsync(options, logging, parseResult.InvocationConfiguration.Output, cancellationToken);
        });
        return command;
    }

    /// <summary>The controller's state is local: beside a directory store, but a bucket has no place for it.</summary>
    private static string DefaultData(string? storeLocation) => ImageStores.IsBucket(storeLocation)
        ? throw new ArgumentException("--data is required with a bucket store: the controller keeps its token, database and deployment logs in a local directory")
        : Path.Combine(ImageStore.ResolveRoot(storeLocation), "controller");

    /// <summary>This program: <c>dotnet bmcast.dll</c> when run by the dotnet host, else the executable itself.</summary>
    private static string[] Self()
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? [host, typeof(ControllerCommand).Assembly.Location] : [host];
    }
}
