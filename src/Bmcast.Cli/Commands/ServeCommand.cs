using System.CommandLine;
using Bmcast.Core.Storage;
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
        var rate = new Option<string?>("--rate")
        {
            Description = "Emulate a link of this many bytes per second shared by all clients (e.g. 125M for 1 Gbit/s), for benchmarks",
            HelpName = "RATE",
        };
        var command = new Command("serve", "Serve the store's images over NBD");
        command.Options.Add(store);
        command.Options.Add(nbd);
        command.Options.Add(rate);
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
                IExportCatalog catalog = new StoreExportCatalog(imageStore);
                if (parseResult.GetValue(rate) is { } text)
                {
                    if (!ByteSize.TryParse(text, out long bytesPerSecond) || bytesPerSecond <= 0)
                        throw new ArgumentException($"--rate '{text}' is not a byte rate such as 125M");
                    catalog = new LinkLimitedCatalog(catalog, new LinkEmulator(bytesPerSecond));
                    log.LogInformation("emulating a {Rate}/s link shared by all clients", ByteSize.Format(bytesPerSecond));
                }
                var server = new NbdServer(catalog, logging.CreateLogger<NbdServer>());
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
