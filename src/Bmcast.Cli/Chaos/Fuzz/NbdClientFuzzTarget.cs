using System.Net.Sockets;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Cli.Chaos.Fuzz;

/// <summary>
/// The real <see cref="NbdClient"/> against a fake server on a unix socket that plays one script per input
/// (<see cref="NbdClientScripts"/>) and then closes its side: the client connects, reads, asks for block
/// status and reads again, and must either succeed or fail with an <see cref="IOException"/>.
/// </summary>
internal sealed class NbdClientFuzzTarget : IFuzzTarget
{
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

    /// <summary>IOException covers protocol violations, server errors, refused options and lost connections.</summary>
    public bool IsDocumented(Exception error) => error is IOException;

    public ValueTask DisposeAsync()
    {
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task UseClientAsync(CancellationToken ct)
    {
        await using var client = await NbdClient.ConnectAsync(_endpoint, NbdClientScripts.Export, ct);
        var buffer = new byte[NbdClientScripts.ReadLength];
        // The export's size is the server's word: stay inside it, as a careful caller does.
        int first = (int)Math.Min(buffer.Length, client.Size);
        await client.ReadAsync(0, buffer.AsMemory(0, first), ct);
        if (client.Export.BlockStatus && client.Size > 0)
            await client.BlockStatusAsync(0, client.Size, ct);
        if (client.Size >= 2L * buffer.Length)
            await client.ReadAsync(buffer.Length, buffer, ct);
    }

    /// <summary>Send the script, close our sending side, and swallow what the client says until it hangs up.</summary>
    private static async Task PlayAsync(Socket server, byte[] script, CancellationToken ct)
    {
        using (server)
        {
            try
            {
                await server.SendAsync(script, SocketFlags.None, ct);
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
}
