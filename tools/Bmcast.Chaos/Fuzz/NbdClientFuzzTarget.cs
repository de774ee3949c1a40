using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// The real <see cref="NbdClient"/> against a fake server on a unix socket that plays one script per input
/// (<see cref="NbdClientScripts"/>) and then closes its side. The client connects, then reads, asks for block
/// status and reads again, all at once; each call must succeed or fail with an <see cref="IOException"/>.
/// </summary>
public sealed class NbdClientFuzzTarget : IFuzzTarget
{
    /// <summary>Short, because stalled handshakes are common among damaged scripts; a client slower than this only loses step.</summary>
    private static readonly TimeSpan QuietPeriod = TimeSpan.FromMilliseconds(2);
    private readonly Socket _listener;
    private readonly NbdEndpoint _endpoint;

    public NbdClientFuzzTarget(string directory)
    {
        string path = Path.Combine(directory, "nbd-client-fuzz.sock");
        _endpoint = NbdEndpoint.Unix(path);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(16);
    }

    public string Name => "nbd_client";

    public byte[] Generate(Random random) => NbdClientScripts.Generate(random);

    public async Task FeedAsync(byte[] input, CancellationToken ct)
    {
        var accepting = _listener.AcceptAsync(ct);
        var usingClient = UseClientAsync(ct);
        var playing = PlayAsync(await accepting, input, ct);
        try
        {
            await usingClient;
        }
        finally
        {
            await playing;
        }
    }

    /// <summary>
    /// IOException covers protocol violations, server errors, refused options and lost connections. The reply
    /// loop wraps whatever ends it in one, so a bug (an index out of range, say) hides inside: the whole chain
    /// must be I/O.
    /// </summary>
    public bool IsDocumented(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
            if (e is not (IOException or SocketException))
                return false;
        return error is IOException;
    }

    public ValueTask DisposeAsync()
    {
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task UseClientAsync(CancellationToken ct)
    {
        await using var client = await NbdClient.ConnectAsync(_endpoint, NbdClientScripts.Export, ct);
        // All requests at once, so each is waiting before the server's replies (scripted in advance) arrive.
        // The export's size is the server's word: stay inside it, as a careful caller does.
        long size = client.Size;
        const int Length = NbdClientScripts.ReadLength;
        var calls = new List<Task> { client.ReadAsync(0, new byte[Math.Min(Length, size)], ct).AsTask() };
        if (client.Export.BlockStatus && size > 0)
            calls.Add(client.BlockStatusAsync(0, size, ct));
        if (size >= 2 * Length)
            calls.Add(client.ReadAsync(Length, new byte[Length], ct).AsTask());
        var failures = new List<Exception>();
        foreach (var call in calls)
        {
            try
            {
                await call;
            }
            catch (Exception e)
            {
                failures.Add(e);
            }
        }
        // An undocumented failure must not hide behind a documented one.
        if ((failures.FirstOrDefault(e => !IsDocumented(e)) ?? failures.FirstOrDefault()) is { } failure)
            ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>
    /// Send the handshake part of the script, and the rest (the transmission replies) once the client's first
    /// request has arrived, or once it has gone quiet (damage to the handshake can leave it waiting for bytes
    /// that come later); then close our sending side and swallow what the client says until it hangs up.
    /// </summary>
    private static async Task PlayAsync(Socket server, byte[] script, CancellationToken ct)
    {
        using (server)
        {
            try
            {
                int split = NbdClientScripts.TransmissionStart(script);
                await server.SendAsync(script.AsMemory(0, split), SocketFlags.None, ct);
                if (split < script.Length && await AwaitRequestOrQuietAsync(server, ct))
                    await server.SendAsync(script.AsMemory(split), SocketFlags.None, ct);
                server.Shutdown(SocketShutdown.Send);
                var sink = new byte[4096];
                while (await server.ReceiveAsync(sink, SocketFlags.None, ct) > 0)
                {
                }
            }
            catch (SocketException)
            {
                // The client hung up first (a reset): that is its right.
            }
        }
    }

    /// <summary>
    /// Read what the client sends until a request's magic appears or it sends nothing for a moment (true), or
    /// it hangs up (false).
    /// </summary>
    private static async Task<bool> AwaitRequestOrQuietAsync(Socket server, CancellationToken ct)
    {
        var magic = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(magic, NbdProtocol.RequestMagic);
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(ct);
            quiet.CancelAfter(QuietPeriod);
            int n;
            try
            {
                n = await server.ReceiveAsync(buffer, SocketFlags.None, quiet.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return true;
            }
            if (n == 0)
                return false;
            received.AddRange(buffer.AsSpan(0, n));
            if (received.ToArray().AsSpan().IndexOf(magic) >= 0)
                return true;
        }
    }
}
