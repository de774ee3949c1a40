using System.CommandLine;
using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Images;
using Bmcast.Protocols.Aoe;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast serve --nbd ENDPOINT --aoe IFACE</c>: export every image in the store over NBD, each image's
/// signed manifest as <c>manifest:NAME</c>, and/or over AoE as shelf.slot (slot = the image's index in
/// name order). Logs go to stderr; Ctrl-C or SIGTERM stops the server cleanly.
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
        };
        var rate = new Option<string?>("--rate")
        {
            Description = "Emulate a link of this many bytes per second shared by all clients (e.g. 125M for 1 Gbit/s), for benchmarks",
            HelpName = "RATE",
        };
        var defaults = new NbdServerOptions();
        var maxConnections = new Option<int>("--max-connections")
        {
            Description = "NBD connections served at once; further ones are closed at once",
            DefaultValueFactory = _ => defaults.MaxConnections,
        };
        var handshakeTimeout = new Option<int>("--handshake-timeout")
        {
            Description = "Seconds an NBD client has to choose an export before it is dropped",
            DefaultValueFactory = _ => (int)defaults.HandshakeTimeout.TotalSeconds,
        };
        var aoe = new Option<string?>("--aoe") { Description = "Serve over AoE on this interface (needs CAP_NET_RAW)", HelpName = "IFACE" };
        var aoeShelf = new Option<ushort>("--aoe-shelf") { Description = "AoE shelf (major) of every image; slots follow image name order", DefaultValueFactory = _ => 0 };
        var aoeAllow = new Option<string?>("--aoe-allow") { Description = "Answer only these initiators' MAC addresses", HelpName = "MAC,..." };
        var command = new Command("serve", "Serve the store's images over NBD and/or AoE");
        foreach (var option in new Option[] { store, nbd, rate, maxConnections, handshakeTimeout, aoe, aoeShelf, aoeAllow })
            command.Options.Add(option);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            using var logging = CliLogging.Create();
            var log = logging.CreateLogger("bmcast.serve");
            try
            {
                string? nbdEndpoint = parseResult.GetValue(nbd);
                string? aoeInterface = parseResult.GetValue(aoe);
                if (nbdEndpoint is null && aoeInterface is null)
                    throw new ArgumentException("give --nbd ENDPOINT, --aoe IFACE or both");
                var imageStore = ImageStore.Open(parseResult.GetValue(store));
                IExportCatalog catalog = new StoreExportCatalog(imageStore);
                if (parseResult.GetValue(rate) is { } text)
                {
                    if (!ByteSize.TryParse(text, out long bytesPerSecond) || bytesPerSecond <= 0)
                        throw new ArgumentException($"--rate '{text}' is not a byte rate such as 125M");
                    catalog = new LinkLimitedCatalog(catalog, new LinkEmulator(bytesPerSecond));
                    log.LogInformation("emulating a {Rate}/s link shared by all clients", ByteSize.Format(bytesPerSecond));
                }
                var servers = new List<Task>();
                if (nbdEndpoint is not null)
                {
                    var endpoint = NbdEndpoint.Parse(nbdEndpoint);
                    log.LogInformation("serving {Count} images from {Store} on {Endpoint}",
                        imageStore.List().Count, imageStore.Root, endpoint);
                    var limits = NbdLimits(parseResult.GetValue(maxConnections), parseResult.GetValue(handshakeTimeout));
                    servers.Add(new NbdServer(catalog, logging.CreateLogger<NbdServer>(), limits).RunAsync(endpoint, cancellationToken));
                }
                if (aoeInterface is not null)
                {
                    var options = new AoeTargetOptions { Shelf = parseResult.GetValue(aoeShelf), AllowedInitiators = ParseMacs(parseResult.GetValue(aoeAllow)) };
                    servers.Add(ServeAoeAsync(aoeInterface, catalog, options, logging.CreateLogger<AoeTarget>(), cancellationToken));
                }
                // A server that fails (say, the AoE interface vanished) ends the command rather than leaving the other serving.
                await await Task.WhenAny(servers);
                await Task.WhenAll(servers);
                cancellationToken.ThrowIfCancellationRequested();
                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                log.LogInformation("stopped");
                return ExitCodes.Success;
            }
            catch (Exception e) when (OperatorError.Is(e))
            {
                log.LogError("{Message}", e.Message);
                return ExitCodes.Failed;
            }
        });
        return command;
    }

    private static NbdServerOptions NbdLimits(int maxConnections, int handshakeSeconds)
    {
        if (maxConnections <= 0)
            throw new ArgumentException($"--max-connections must be positive, not {maxConnections}");
        if (handshakeSeconds <= 0)
            throw new ArgumentException($"--handshake-timeout must be a positive number of seconds, not {handshakeSeconds}");
        return new NbdServerOptions { MaxConnections = maxConnections, HandshakeTimeout = TimeSpan.FromSeconds(handshakeSeconds) };
    }

    private static async Task ServeAoeAsync(string interfaceName, IExportCatalog catalog, AoeTargetOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        using var channel = PacketSocketChannel.Open(interfaceName);
        await using var target = await AoeTarget.CreateAsync(channel, catalog, options, logger, cancellationToken);
        await target.RunAsync(cancellationToken);
    }

    private static HashSet<MacAddress>? ParseMacs(string? list)
    {
        if (list is null)
            return null;
        var macs = new HashSet<MacAddress>();
        foreach (string text in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            macs.Add(MacAddress.TryParse(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address (aa:bb:cc:dd:ee:ff)"));
        return macs;
    }
}
