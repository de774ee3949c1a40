using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Transport;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Serves the exports of an <see cref="IExportCatalog"/> over NBD (fixed newstyle) on TCP or unix sockets.
/// The server disposes each device it opens when the connection that opened it ends.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    /// <summary>
    /// The send buffer of a unix socket connection (the kernel doubles it): the default 208 KiB does not hold one
    /// 256 KiB read reply (nbdcopy's), so every reply waited for room part way and the rest went through the pipe.
    /// 512 KiB took the server's CPU per nbdcopy of 1 GiB from 44 to 27 ticks (export: 30 to 17); 1 MiB did no
    /// better. A client that stops reading can hold that much kernel memory per connection beyond the reply budget,
    /// less than the 4 MiB a TCP connection's send buffer may grow to by default (tcp_wmem; its size is left to the kernel).
    /// </summary>
    private const int UnixSendBufferSize = 512 << 10;

    private readonly IExportCatalog _catalog;
    private readonly ILogger<NbdServer> _logger;
    private readonly NbdServerOptions _options;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Listener> _listeners = [];
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly Dictionary<IPAddress, int> _connectionsPerPeer = [];
    private readonly ByteBudget _bytesInFlight;
    private readonly RefusalLog _refusals;
    private long _nextConnectionId;

    public NbdServer(IExportCatalog catalog, ILogger<NbdServer> logger, NbdServerOptions? options = null)
    {
        _catalog = catalog;
        _logger = logger;
        _options = options ?? new NbdServerOptions();
        _bytesInFlight = new ByteBudget(_options.MaxBytesInFlight);
        _refusals = new RefusalLog(logger);
    }

    /// <summary>Request data all connections hold now (at most <see cref="NbdServerOptions.MaxBytesInFlight"/>).</summary>
    public long BytesInFlight => _bytesInFlight.Held;

    /// <summary>Listen on <paramref name="endpoint"/> until <paramref name="cancellationToken"/> is cancelled, then stop.</summary>
    public async Task RunAsync(NbdEndpoint endpoint, CancellationToken cancellationToken)
    {
        await StartAsync(endpoint, cancellationToken);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await StopAsync();
        }
    }

    /// <summary>
    /// Start listening and return the bound address (with the actual port when <see cref="NbdEndpoint.Port"/> is 0).
    /// A stale unix socket file is replaced; one that a live server answers on is an error.
    /// </summary>
    public async Task<EndPoint> StartAsync(NbdEndpoint endpoint, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var address = await endpoint.ResolveAsync(cancellationToken);
        if (endpoint.UnixSocketPath is { } path)
            await RemoveStaleSocketAsync(path, cancellationToken);
        var socket = NbdEndpoint.CreateSocket(address);
        try
        {
            if (endpoint.UnixSocketPath is { } unixPath)
                BindUnixListening(socket, unixPath);
            else
            {
                socket.Bind(address);
                socket.Listen(512);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var bound = endpoint.UnixSocketPath is null ? socket.LocalEndPoint! : address;
        var listener = new Listener(socket, endpoint.UnixSocketPath);
        lock (_listeners)
            _listeners.Add(listener);
        listener.AcceptLoop = AcceptAsync(listener);
        _logger.LogInformation("NBD server listening on {Endpoint}", bound);
        return bound;
    }

    /// <summary>
    /// Bind and listen under a temporary name, then rename the socket file into place: the file appears only once it
    /// accepts connections. Bound in place, it would appear at bind(2), and a client that waits for the file (a
    /// script, a test) could connect before listen(2) and be refused.
    /// </summary>
    private static void BindUnixListening(Socket socket, string path)
    {
        // Beside the final name (a rename stays in one file system), and short: unix socket paths are limited to 107 bytes.
        string temporary = Path.Combine(Path.GetDirectoryName(path) ?? "", $".nbd-{Random.Shared.Next():x8}");
        File.Delete(temporary);
        socket.Bind(new UnixDomainSocketEndPoint(temporary));
        try
        {
            socket.Listen(512);
            File.Move(temporary, path, overwrite: false);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Stop accepting, close every connection (cancelling its in-flight requests), remove unix socket files.</summary>
    public async Task StopAsync()
    {
        if (!_stopping.IsCancellationRequested)
            await _stopping.CancelAsync();
        Listener[] listeners;
        lock (_listeners)
        {
            listeners = [.. _listeners];
            _listeners.Clear();
        }
        foreach (var listener in listeners)
        {
            listener.Socket.Dispose();
            await listener.AcceptLoop!;
            if (listener.UnixSocketPath is not null)
                File.Delete(listener.UnixSocketPath);
        }
        await Task.WhenAll(_connections.Values);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
    }

    /// <summary>
    /// Serve one already-connected transport (an in-memory pipe in protocol tests and fuzzing). Completes when the
    /// connection is over; never throws for anything the peer sent.
    /// </summary>
    public async Task ServeAsync(IDuplexPipe transport, string peer, CancellationToken cancellationToken)
    {
        var budget = new ReplyBudget(_bytesInFlight, _options.MaxBytesInFlightPerConnection);
        await new NbdServerConnection(_catalog, _options, budget, _logger, transport, peer).RunAsync(cancellationToken);
    }

    private async Task AcceptAsync(Listener listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.Socket.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _logger.LogWarning("NBD accept failed: {Reason}", e.Message);
                continue;
            }
            var address = (client.RemoteEndPoint as IPEndPoint)?.Address;
            if (Refusal(address) is { } reason)
            {
                _refusals.Refused(address ?? (object)"a unix socket client", reason);
                ServerMetrics.RecordNbdRefusal();
                client.Dispose();
                continue;
            }
            long id = Interlocked.Increment(ref _nextConnectionId);
            _connections[id] = RunConnectionAsync(id, client, address);
        }
    }

    /// <summary>Why a new connection from <paramref name="address"/> (null: a unix socket) is refused; null when it is not, and then it is counted.</summary>
    private string? Refusal(IPAddress? address)
    {
        if (_connections.Count >= _options.MaxConnections)
            return $"{_options.MaxConnections} connections already open";
        if (address is null)
            return null;
        lock (_connectionsPerPeer)
        {
            int open = _connectionsPerPeer.GetValueOrDefault(address);
            if (open >= _options.MaxConnectionsPerPeer)
                return $"{open} connections already open from this address";
            _connectionsPerPeer[address] = open + 1;
            return null;
        }
    }

    private async Task RunConnectionAsync(long id, Socket socket, IPAddress? address)
    {
        await Task.Yield(); // Let the accept loop go on while this connection starts.
        string peer = socket.RemoteEndPoint is IPEndPoint ip ? ip.ToString() : $"unix#{id}";
        if (socket.AddressFamily != AddressFamily.Unix)
            socket.NoDelay = true;
        else
            socket.SendBufferSize = UnixSendBufferSize;
        try
        {
            await using var transport = new SocketDuplexPipe(socket);
            // A reply stuck on a client that stopped reading would hold up the server's stop for good: break it.
            await using (_stopping.Token.Register(transport.Abort))
                await ServeAsync(transport, peer, _stopping.Token);
        }
        finally
        {
            _connections.TryRemove(id, out _);
            if (address is not null)
                lock (_connectionsPerPeer)
                    if (--_connectionsPerPeer[address] == 0)
                        _connectionsPerPeer.Remove(address);
        }
    }

    private static async Task RemoveStaleSocketAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
            return;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path); // Nobody listens: left over from a server that died.
            return;
        }
        throw new IOException($"{path} is in use by a running server");
    }

    private sealed class Listener(Socket socket, string? unixSocketPath)
    {
        public Socket Socket { get; } = socket;
        public string? UnixSocketPath { get; } = unixSocketPath;
        public Task? AcceptLoop { get; set; }
    }
}
