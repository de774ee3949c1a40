using System.Net.Sockets;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Protocols.Transport;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// A server on a unix socket that completes one client's handshake (our server's, TLS included when the options
/// say so) and then never reads again:
/// the client's sends fill the socket buffers and stay stuck until the client gives up on them.
/// </summary>
internal sealed class DeafNbdServer : IAsyncDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Task<(SocketDuplexPipe Transport, NbdExportSession? Session)> _accepted;

    public DeafNbdServer(IExportCatalog catalog, NbdServerOptions options)
    {
        Endpoint = NbdEndpoint.Unix(_directory.File("deaf.sock"));
        _listener.Bind(new UnixDomainSocketEndPoint(Endpoint.UnixSocketPath!));
        _listener.Listen(1);
        _accepted = AcceptAsync(catalog, options);
    }

    public NbdEndpoint Endpoint { get; }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        try
        {
            var (transport, session) = await _accepted;
            await transport.DisposeAsync();
            if (session is not null)
                await session.Device.DisposeAsync();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // No client came, or it left during the handshake.
        }
        _directory.Dispose();
    }

    private async Task<(SocketDuplexPipe, NbdExportSession?)> AcceptAsync(IExportCatalog catalog, NbdServerOptions options)
    {
        var transport = new SocketDuplexPipe(await _listener.AcceptAsync());
        try
        {
            var handshake = new NbdServerHandshake(catalog, options, new TestLogger<NbdServer>(), transport, "deaf");
            return (transport, await handshake.NegotiateAsync(CancellationToken.None));
        }
        catch
        {
            await transport.DisposeAsync();
            throw;
        }
    }
}
