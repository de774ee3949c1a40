using System.CommandLine;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast serve --nbd ENDPOINT</c>: export every image in the store over NBD, each image's signed
/// manifest as <c>manifest:NAME</c>. Logs go to stderr; Ctrl-C or SIGTERM stops the server cleanly.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var store = StoreOption.Create();
        var nbd = new Option<string>("--nbd")
        {
            Description = "Where to listen: HOST:PORT or unix:PATH",
            HelpName = "ENDPOINT",
            Required = true,
        };
        var command = new Command("serve", "Serve the store's images over NBD");
        command.Options.Add(store);
        command.Options.Add(nbd);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            using var logging = CliLogging.Create();
            var log = logging.CreateLogger("bmcast.serve");
            try
            {
                var endpoint = NbdEndpoint.Parse(parseResult.GetValue(nbd)!);
                var imageStore = ImageStore.Open(parseResult.GetValue(store));
                log.LogInformation("serving {Count} images from {Store} on {Endpoint}",
                    imageStore.List().Count, imageStore.Root, endpoint);
                var server = new NbdServer(new StoreExportCatalog(imageStore), logging.CreateLogger<NbdServer>());
                await server.RunAsync(endpoint, cancellationToken);
                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                log.LogInformation("stopped");
                return ExitCodes.Success;
            }
            catch (Exception e) when (e is ImageStoreException or IOException or FormatException or ArgumentException
                                          or System.Net.Sockets.SocketException)
            {
                log.LogError("{Message}", e.Message);
                return ExitCodes.Failed;
            }
        });
        return command;
    }
}
