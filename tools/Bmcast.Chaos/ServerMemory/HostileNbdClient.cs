using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Bmcast.Protocols.Nbd;

namespace Bmcast.Chaos.ServerMemory;

/// <summary>
/// A raw NBD client over TCP that misbehaves on purpose: it connects from a loopback address of the campaign's choosing
/// (the whole of 127.0.0.0/8 reaches the server, and the server limits connections per address), and may stop reading
/// its replies, stay idle, or dribble its handshake. Built from the protocol's own codecs, so what it sends is what a
/// real client would.
/// </summary>
public sealed class HostileNbdClient : IDisposable
{
    private static readonly TimeSpan GreetingTimeout = TimeSpan.FromSeconds(60);
    private readonly Socket _socket;
    private byte[] _received = new byte[4096];
    private int _receivedLength;

    private HostileNbdClient(Socket socket) => _socket = socket;

    /// <summary>
    /// Connect from <paramref name="from"/>; a small <paramref name="receiveBuffer"/> (set before connecting, so the
    /// window stays small) keeps replies it never reads in the server rather than in this process.
    /// </summary>
    public static async Task<HostileNbdClient> ConnectAsync(IPAddress from, IPEndPoint server, int? receiveBuffer, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (receiveBuffer is { } bytes)
                socket.ReceiveBufferSize = bytes;
            socket.Bind(new IPEndPoint(from, 0));
            await socket.ConnectAsync(server, ct);
            return new HostileNbdClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// True when the server greeted; false when it closed the connection first (a refused connection is closed before
    /// the greeting).
    /// </summary>
    public async Task<bool> GreetedAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(GreetingTimeout);
        while (true)
        {
            var buffer = new ReadOnlySequence<byte>(_received, 0, _receivedLength);
            if (NbdHandshakeCodec.TryReadGreeting(ref buffer, out _))
            {
                Consume(buffer);
                return true;
            }
            if (!await ReceiveAsync(timeout.Token))
                return false;
        }
    }

    /// <summary>After the greeting: fixed newstyle, then OPT_GO for <paramref name="export"/>, waiting for its ACK.</summary>
    public async Task GoAsync(string export, CancellationToken ct)
    {
        await SendAsync(Handshake(export), ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(GreetingTimeout);
        while (true)
        {
            var buffer = new ReadOnlySequence<byte>(_received, 0, _receivedLength);
            while (NbdHandshakeCodec.TryReadOptionReply(ref buffer, out _, out var reply, out _))
            {
                if (reply == NbdOptionReply.Ack)
                {
                    Consume(buffer);
                    return;
                }
                if (reply != NbdOptionReply.Info)
                    throw new IOException($"the server answered OPT_GO for '{export}' with {reply}");
            }
            if (!await ReceiveAsync(timeout.Token))
                throw new IOException($"the server closed the connection during OPT_GO for '{export}'");
        }
    }

    /// <summary>Send <paramref name="count"/> READs of <paramref name="length"/> bytes, never to read their replies.</summary>
    public Task SendReadsAsync(int count, uint length, long exportSize, Random random, CancellationToken ct)
    {
        var requests = new byte[count * NbdTransmissionCodec.RequestSize];
        for (int i = 0; i < count; i++)
        {
            ulong offset = (ulong)random.NextInt64(0, (exportSize - length) / 4096 + 1) * 4096;
            NbdTransmissionCodec.WriteRequest(requests.AsSpan(i * NbdTransmissionCodec.RequestSize),
                new NbdRequest(NbdCommandFlags.None, NbdCommand.Read, (ulong)i, offset, length));
        }
        return SendAsync(requests, ct);
    }

    /// <summary>
    /// Slowloris: after the greeting, send a handshake one byte every <paramref name="interval"/>, never finishing it
    /// (its OPT_GO announces a payload far longer than is ever sent), until the server closes the connection. Returns how
    /// long that took, or null when the server still held it after <paramref name="patience"/>.
    /// </summary>
    public async Task<TimeSpan?> DribbleUntilDroppedAsync(TimeSpan interval, TimeSpan patience, CancellationToken ct)
    {
        const int Announced = 60_000;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var prefix = new byte[NbdHandshakeCodec.ClientFlagsSize + NbdHandshakeCodec.OptionHeaderSize];
        NbdHandshakeCodec.WriteClientFlags(prefix, NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        NbdHandshakeCodec.WriteOptionHeader(prefix.AsSpan(NbdHandshakeCodec.ClientFlagsSize), NbdOption.Go, Announced);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var closed = ReceiveUntilClosedAsync(stop.Token);
        try
        {
            for (int sent = 0; clock.Elapsed < patience && sent < prefix.Length + Announced - 1; sent++)
            {
                if (await Task.WhenAny(closed, Task.Delay(interval, ct)) == closed)
                    return clock.Elapsed;
                byte[] next = [sent < prefix.Length ? prefix[sent] : (byte)'x'];
                try
                {
                    await _socket.SendAsync(next, ct);
                }
                catch (SocketException)
                {
                    return clock.Elapsed;
                }
            }
            return null;
        }
        finally
        {
            await stop.CancelAsync();
            await closed;
        }
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>What a client sends after the greeting to enter transmission: fixed newstyle flags, then OPT_GO for <paramref name="export"/>.</summary>
    public static byte[] Handshake(string export)
    {
        var request = new byte[NbdHandshakeCodec.ExportRequestLength(export, 0)];
        NbdHandshakeCodec.WriteExportRequest(request, export, []);
        var bytes = new byte[NbdHandshakeCodec.ClientFlagsSize + NbdHandshakeCodec.OptionHeaderSize + request.Length];
        NbdHandshakeCodec.WriteClientFlags(bytes, NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        NbdHandshakeCodec.WriteOptionHeader(bytes.AsSpan(NbdHandshakeCodec.ClientFlagsSize), NbdOption.Go, request.Length);
        request.CopyTo(bytes, NbdHandshakeCodec.ClientFlagsSize + NbdHandshakeCodec.OptionHeaderSize);
        return bytes;
    }

    private async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        while (!bytes.IsEmpty)
            bytes = bytes[await _socket.SendAsync(bytes, ct)..];
    }

    /// <summary>Append what the server sent; false when it closed the connection (or reset it).</summary>
    private async Task<bool> ReceiveAsync(CancellationToken ct)
    {
        if (_receivedLength == _received.Length)
            Array.Resize(ref _received, _received.Length * 2);
        try
        {
            int n = await _socket.ReceiveAsync(_received.AsMemory(_receivedLength), ct);
            _receivedLength += n;
            return n > 0;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task ReceiveUntilClosedAsync(CancellationToken ct)
    {
        try
        {
            while (await ReceiveAsync(ct))
                _receivedLength = 0;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Consume(ReadOnlySequence<byte> rest)
    {
        int left = (int)rest.Length;
        Array.Copy(_received, _receivedLength - left, _received, 0, left);
        _receivedLength = left;
    }
}
