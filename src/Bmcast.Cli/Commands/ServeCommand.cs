using System.CommandLine;
using Bmcast.Agent.Serving;
using Bmcast.Core.Aoe;
using Bmcast.Images;
using Bmcast.Protocols.Aoe;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Cli.Commands;

/// <summary>
/// <c>bmcast serve --nbd ENDPOINT --aoe IFACE</c>: export every image in the store over NBD, each image's
/// signed manifest as <c>manifest:NAME</c>, and/or over AoE as shelf.slot (slot = the number the image keeps
/// from its import on, <c>image ls</c>), each image's manifest on the manifest shelf in the same slot. Logs go to stderr; Ctrl-C or SIGTERM stops the server cleanly. With <c>--tls-cert</c> NBD clients must
/// use TLS, with <c>--tls-client-ca</c> present a certificate, and <c>--tls-allow</c> limits images to named clients.
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
        var maxConnectionsPerPeer = new Option<int>("--max-connections-per-peer")
        {
            Description = "NBD connections served at once from one IP address (raise it for many clients behind one address)",
            DefaultValueFactory = _ => defaults.MaxConnectionsPerPeer,
        };
        var handshakeTimeout = new Option<int>("--handshake-timeout")
        {
            Description = "Seconds an NBD client has to choose an export before it is dropped",
            DefaultValueFactory = _ => (int)defaults.HandshakeTimeout.TotalSeconds,
        };
        var aoe = new Option<string?>("--aoe") { Description = "Serve over AoE on this interface (needs CAP_NET_RAW)", HelpName = "IFACE" };
        var aoeShelf = new Option<ushort>("--aoe-shelf") { Description = "AoE shelf (major) of every image; each image's slot is its own (image ls)", DefaultValueFactory = _ => 0 };
        var aoeManifestShelf = new Option<ushort?>("--aoe-manifest-shelf")
        {
            Description = "AoE shelf of the images' signed manifests, each in its image's slot (default: the image shelf + 1)",
            HelpName = "SHELF",
        };
        var aoeProfileShelf = new Option<ushort?>("--aoe-profile-shelf")
        {
            Description = "AoE shelf of the images' boot profiles, each in its image's slot, for images that have one (default: the image shelf + 2)",
            HelpName = "SHELF",
        };
        var aoeAllow = new Option<string?>("--aoe-allow") { Description = "Answer only these initiators' MAC addresses", HelpName = "MAC,..." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "Require TLS on NBD, with this server certificate (PEM, then any intermediates)", HelpName = "FILE" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "The server certificate's private key (PEM)", HelpName = "FILE" };
        var tlsClientCa = new Option<string?>("--tls-client-ca") { Description = "Require NBD clients to present a certificate issued by this CA (PEM)", HelpName = "FILE" };
        var tlsAllow = new Option<string[]>("--tls-allow")
        {
            Description = "Open IMAGE (and its manifest and boot profile) only to client certificates with these subject CNs; repeatable",
            HelpName = "IMAGE=CN[,CN...]",
        };
        var noLearn = new Option<bool>("--no-learn-profiles")
        {
            Description = "Do not keep the boot profile the first deployment of an image offers (only 'bmcast image profile' sets profiles)",
        };
        var cacheSize = new Option<string>("--cache-size")
        {
            Description = "With an s3:// store: bytes of verified chunks kept in memory, least recently used evicted (e.g. 2G)",
            HelpName = "SIZE",
            DefaultValueFactory = _ => "512M",
        };
        var command = new Command("serve", "Serve the store's images over NBD and/or AoE");
        foreach (var option in new Option[] { store, cacheSize, nbd, rate, noLearn, maxConnections, maxConnectionsPerPeer, handshakeTimeout, aoe, aoeShelf, aoeManifestShelf, aoeProfileShelf, aoeAllow, tlsCert, tlsKey, tlsClientCa, tlsAllow })
            command.Options.Add(option);
        LongRunningCommand.BindWithMetrics(command, "bmcast.serve", async (parseResult, logging, cancellationToken) =>
        {
            string? nbdEndpoint = parseResult.GetValue(nbd);
            string? aoeInterface = parseResult.GetValue(aoe);
            if (nbdEndpoint is null && aoeInterface is null)
                throw new ArgumentException("give --nbd ENDPOINT, --aoe IFACE or both");
            var options = new ImageServerOptions { LinkBytesPerSecond = ParseRate(parseResult.GetValue(rate)), LearnProfiles = !parseResult.GetValue(noLearn) };
            if (nbdEndpoint is not null)
            {
                var tls = ParseTls(parseResult.GetValue(tlsCert), parseResult.GetValue(tlsKey), parseResult.GetValue(tlsClientCa), parseResult.GetValue(tlsAllow));
                options = options with
                {
                    Nbd = NbdEndpoint.Parse(nbdEndpoint),
                    NbdOptions = NbdLimits(parseResult.GetValue(maxConnections), parseResult.GetValue(maxConnectionsPerPeer), parseResult.GetValue(handshakeTimeout)) with { Tls = tls },
                };
            }
            if (aoeInterface is not null)
            {
                ushort shelf = parseResult.GetValue(aoeShelf);
                options = options with
                {
                    AoeInterface = aoeInterface,
                    AoeOptions = new AoeTargetOptions
                    {
                        Shelf = shelf,
                        ManifestShelf = CompanionShelf(shelf, 1, parseResult.GetValue(aoeManifestShelf), "--aoe-manifest-shelf"),
                        ProfileShelf = ProfileShelf(shelf, parseResult.GetValue(aoeManifestShelf), parseResult.GetValue(aoeProfileShelf)),
                        AllowedInitiators = ParseMacs(parseResult.GetValue(aoeAllow)),
                    },
                };
            }
            long cacheBytes = ByteSize.TryParse(parseResult.GetValue(cacheSize)!, out long parsed) && parsed > 0 ? parsed
                : throw new ArgumentException($"--cache-size '{parseResult.GetValue(cacheSize)}' is not a size such as 512M");
            var imageStore = ImageStores.Open(parseResult.GetValue(store), cacheBytes: cacheBytes, log: logging.CreateLogger("bmcast.store"));
            try
            {
                await using var server = new ImageServerHost(imageStore, options, logging);
                await server.RunAsync(cancellationToken);
            }
            finally
            {
                (imageStore as IDisposable)?.Dispose();
            }
        });
        return command;
    }

    internal static long? ParseRate(string? text) =>
        text is null ? null
        : ByteSize.TryParse(text, out long bytesPerSecond) && bytesPerSecond > 0 ? bytesPerSecond
        : throw new ArgumentException($"--rate '{text}' is not a byte rate such as 125M");

    private static NbdServerOptions NbdLimits(int maxConnections, int maxConnectionsPerPeer, int handshakeSeconds)
    {
        if (maxConnections <= 0)
            throw new ArgumentException($"--max-connections must be positive, not {maxConnections}");
        if (maxConnectionsPerPeer <= 0)
            throw new ArgumentException($"--max-connections-per-peer must be positive, not {maxConnectionsPerPeer}");
        if (handshakeSeconds <= 0)
            throw new ArgumentException($"--handshake-timeout must be a positive number of seconds, not {handshakeSeconds}");
        return new NbdServerOptions { MaxConnections = maxConnections, MaxConnectionsPerPeer = maxConnectionsPerPeer, HandshakeTimeout = TimeSpan.FromSeconds(handshakeSeconds) };
    }

    /// <summary>
    /// Where a kind of companion (manifests, boot profiles) goes: the shelf given, else <paramref name="above"/> shelves
    /// above the images' (the slot table refuses a shelf that collides).
    /// </summary>
    /// <summary>The profile shelf: given, or N+2, unless a manifest shelf given as N+2 took it (say so, rather than clash).</summary>
    private static ushort ProfileShelf(ushort imageShelf, ushort? manifestShelf, ushort? given) =>
        given is null && manifestShelf == imageShelf + 2
            ? throw new ArgumentException($"--aoe-manifest-shelf {manifestShelf} is where boot profiles go by default: give --aoe-profile-shelf too")
            : CompanionShelf(imageShelf, 2, given, "--aoe-profile-shelf");

    private static ushort CompanionShelf(ushort imageShelf, int above, ushort? given, string option) =>
        given ?? (imageShelf + above < AoeProtocol.BroadcastMajor
            ? (ushort)(imageShelf + above)
            : throw new ArgumentException($"--aoe-shelf {imageShelf} leaves no shelf {imageShelf + above} below {AoeProtocol.BroadcastMajor} (broadcast): give {option}"));

    private static NbdServerTls? ParseTls(string? certificate, string? key, string? clientCa, string[]? allow)
    {
        if (certificate is null || key is null)
        {
            if (certificate is not null || key is not null || clientCa is not null || allow is { Length: > 0 })
                throw new ArgumentException("TLS needs both --tls-cert and --tls-key (--tls-client-ca and --tls-allow build on them)");
            return null;
        }
        var allowed = new Dictionary<string, IReadOnlySet<string>>();
        foreach (string rule in allow ?? [])
        {
            int equals = rule.IndexOf('=');
            var names = equals < 0 ? [] : rule[(equals + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (equals <= 0 || names.Length == 0)
                throw new FormatException($"--tls-allow '{rule}' is not IMAGE=CN[,CN...]");
            allowed[rule[..equals]] = allowed.TryGetValue(rule[..equals], out var earlier) ? earlier.Union(names).ToHashSet() : names.ToHashSet();
        }
        return NbdServerTls.FromPemFiles(certificate, key, clientCa, allowed);
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
