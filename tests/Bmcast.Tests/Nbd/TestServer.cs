using System.Net;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Tests.Nbd;

/// <summary>Our server listening on an ephemeral loopback port or a unix socket for the length of a test.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(NbdServer server, NbdEndpoint endpoint, TestLogger<NbdServer> logger)
    {
        Server = server;
        Endpoint = endpoint;
        Logger = logger;
    }

    public NbdServer Server { get; }

    /// <summary>Where clients connect (with the real port).</summary>
    public NbdEndpoint Endpoint { get; }

    public TestLogger<NbdServer> Logger { get; }

    /// <summary>Host and port (or socket) in the forms the external tools take.</summary>
    public string Uri(string export) => Endpoint.IsUnix
        ? $"nbd+unix:///{export}?socket={Endpoint.UnixSocketPath}"
        : $"nbd://127.0.0.1:{Endpoint.Port}/{export}";

    public static async Task<TestServer> StartAsync(IExportCatalog catalog, string? unixSocketPath = null, NbdServerOptions? options = null)
    {
        var logger = new TestLogger<NbdServer>();
        var server = new NbdServer(catalog, logger, options);
        var bound = await server.StartAsync(unixSocketPath is null ? NbdEndpoint.Tcp("127.0.0.1", 0) : NbdEndpoint.Unix(unixSocketPath));
        var endpoint = bound is IPEndPoint ip ? NbdEndpoint.Tcp("127.0.0.1", ip.Port) : NbdEndpoint.Unix(unixSocketPath!);
        return new TestServer(server, endpoint, logger);
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
