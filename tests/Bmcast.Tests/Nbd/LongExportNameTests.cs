using System.Net.Sockets;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// Messages the server builds from a client's input stay within the protocol's string limit: an unknown export name of
/// the maximal length (4096 bytes) gets NBD_REP_ERR_UNKNOWN with a shortened message, and the connection carries on.
/// </summary>
public sealed class LongExportNameTests
{
    private const NbdClientFlags Fixed = NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes;

    [Theory(Timeout = 30_000)]
    [InlineData(NbdOption.Go)]
    [InlineData(NbdOption.Info)]
    public async Task A_maximal_unknown_name_is_answered_with_an_error_and_the_connection_goes_on(NbdOption option)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await TestServer.StartAsync(InMemoryServer.SmallCatalog(out _));
        using var socket = await server.Endpoint.ConnectAsync(ct);
        await using var stream = new NetworkStream(socket);
        var peer = new RawNbdPeer(new StreamDuplexPipe(stream));
        await peer.GreetAsync(Fixed);

        string name = new('x', NbdProtocol.MaxStringLength);
        var request = new byte[NbdHandshakeCodec.ExportRequestLength(name, 0)];
        NbdHandshakeCodec.WriteExportRequest(request, name, []);
        await peer.SendOptionAsync(option, request);

        var reply = await peer.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReply.ErrUnknown, reply.Type);
        Assert.InRange(reply.Payload.Length, 1, NbdProtocol.MaxStringLength);
        Assert.StartsWith("no export named 'xxx", System.Text.Encoding.UTF8.GetString(reply.Payload));
        // The connection is still in step: the next option is answered as usual.
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("ro"));
        Assert.DoesNotContain(server.Logger.Lines, l => l.StartsWith("[Error]", StringComparison.Ordinal));
    }
}
