using System.Net.Sockets;

namespace Bmcast.Chaos;

/// <summary>
/// A unix-socket relay between a client and a server that, on a share of connections, cuts the
/// server's reply stream after a random number of bytes: a reply truncated mid-header or mid-data,
/// then the connection closed, as when a server or a link dies.
/// </summary>
public sealed class TruncatingProxy : IAsyncDisposable
{
    private const int MaxBytesBeforeCut = 4 << 20;
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly string _backend;
    private readonly Random _random;
    private readonly double _cutRate;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _relays = [];
    private readonly Task _acceptLoop;
    private long _cuts;

    public TruncatingProxy(string listenPath, string backendPath, Random random, double cutRate)
    {
        _backend = backendPath;
        _random = random;
        _cutRate = cutRate;
        File.Delete(listenPath);
        _listener.Bind(new UnixDomainSocketEndPoint(listenPath));
        _listener.Listen();
        _acceptLoop = AcceptAsync();
    }

    /// <summary>Connections whose reply stream was cut short.</summary>
    public long Cuts => Interlocked.Read(ref _cuts);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop;
        Task[] relays;
        lock (_relays)
            relays = [.. _relays];
        await Task.WhenAll(relays);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            long? cutAfter;
            lock (_random)
                cutAfter = _random.NextDouble() < _cutRate ? _random.NextInt64(0, MaxBytesBeforeCut) : null;
            lock (_relays)
            {
                _relays.RemoveAll(t => t.IsCompleted);
                _relays.Add(RelayAsync(client, cutAfter));
            }
        }
    }

    private async Task RelayAsync(Socket client, long? cutAfter)
    {
        using var server = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using (client)
        {
            try
            {
                await server.ConnectAsync(new UnixDomainSocketEndPoint(_backend), _stop.Token);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var requests = PumpAsync(client, server, long.MaxValue, done.Token);
                var replies = PumpAsync(server, client, cutAfter ?? long.MaxValue, done.Token);
                await Task.WhenAny(requests, replies);
                if (replies.IsCompleted && await replies)
                    Interlocked.Increment(ref _cuts);
                await done.CancelAsync();
                await Task.WhenAll(requests, replies);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Either side went away: the relay ends with it.
            }
        }
    }

    /// <summary>Copy until either side closes or <paramref name="limit"/> bytes have passed; true when the limit cut it.</summary>
    private static async Task<bool> PumpAsync(Socket from, Socket to, long limit, CancellationToken ct)
    {
        var buffer = new byte[64 << 10];
        long passed = 0;
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, Math.Max(1, limit - passed))), ct);
                if (read == 0)
                    return false;
                int allowed = (int)Math.Min(read, limit - passed);
                await to.SendAsync(buffer.AsMemory(0, allowed), ct);
                passed += allowed;
                if (passed >= limit)
                    return true;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            return false;
        }
    }
}
