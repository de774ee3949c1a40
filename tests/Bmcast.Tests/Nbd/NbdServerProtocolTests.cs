using System.Buffers.Binary;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>The server's answers to exact byte sequences, over in-memory pipes.</summary>
public sealed class NbdServerProtocolTests
{
    private const NbdClientFlags Fixed = NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes;

    private readonly TestLogger<NbdServer> _logger = new();
    private readonly NbdServer _server;
    private readonly byte[] _readOnlyData;

    public NbdServerProtocolTests() => _server = new NbdServer(InMemoryServer.SmallCatalog(out _readOnlyData), _logger);

    [Fact(Timeout = 30_000)]
    public async Task Unknown_options_are_unsupported_and_their_payload_skipped()
    {
        var connection = InMemoryServer.Start(_server);
        var peer = connection.Peer;
        Assert.Equal(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes, await peer.GreetAsync(Fixed));

        await peer.SendOptionAsync((NbdOption)0x1234, new byte[100]);
        Assert.Equal(NbdOptionReply.ErrUnsup, (await peer.ReadOptionReplyAsync()).Type);
        await peer.SendOptionAsync(NbdOption.StartTls, []);
        Assert.Equal(NbdOptionReply.ErrUnsup, (await peer.ReadOptionReplyAsync()).Type);

        Assert.Equal(NbdOptionReply.ErrUnknown, await peer.GoAsync("nope"));
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("ro"));
    }

    [Fact(Timeout = 30_000)]
    public async Task List_skips_hidden_exports_and_rejects_data()
    {
        var peer = InMemoryServer.Start(_server).Peer;
        await peer.GreetAsync(Fixed);

        await peer.SendOptionAsync(NbdOption.List, []);
        var names = new List<string>();
        for (var reply = await peer.ReadOptionReplyAsync(); reply.Type == NbdOptionReply.Server; reply = await peer.ReadOptionReplyAsync())
        {
            Assert.True(NbdHandshakeCodec.TryParseServerReply(reply.Payload, out var name, out _));
            names.Add(name);
        }
        Assert.Equal(["ro", "rw"], names);

        await peer.SendOptionAsync(NbdOption.List, [1]);
        Assert.Equal(NbdOptionReply.ErrInvalid, (await peer.ReadOptionReplyAsync()).Type);
    }

    [Fact(Timeout = 30_000)]
    public async Task Meta_contexts_need_structured_replies_first()
    {
        var peer = InMemoryServer.Start(_server).Peer;
        await peer.GreetAsync(Fixed);
        var request = new byte[NbdHandshakeCodec.MetaContextRequestLength("ro", ["base:allocation"])];
        NbdHandshakeCodec.WriteMetaContextRequest(request, "ro", ["base:allocation"]);

        await peer.SendOptionAsync(NbdOption.SetMetaContext, request);
        Assert.Equal(NbdOptionReply.ErrInvalid, (await peer.ReadOptionReplyAsync()).Type);

        await peer.SendOptionAsync(NbdOption.StructuredReply, []);
        Assert.Equal(NbdOptionReply.Ack, (await peer.ReadOptionReplyAsync()).Type);
        await peer.SendOptionAsync(NbdOption.SetMetaContext, request);
        var context = await peer.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReply.MetaContext, context.Type);
        Assert.True(NbdHandshakeCodec.TryParseMetaContextReply(context.Payload, out uint id, out var name));
        Assert.Equal("base:allocation", name);
        Assert.NotEqual(0u, id);
        Assert.Equal(NbdOptionReply.Ack, (await peer.ReadOptionReplyAsync()).Type);
    }

    [Fact(Timeout = 30_000)]
    public async Task Export_name_with_simple_replies_validates_every_request()
    {
        var connection = InMemoryServer.Start(_server);
        var peer = connection.Peer;
        await peer.GreetAsync(Fixed);
        await peer.SendOptionAsync(NbdOption.ExportName, "ro"u8.ToArray());
        var export = await peer.ReadExactlyAsync(NbdHandshakeCodec.ExportNameReplySize);
        Assert.Equal(1UL << 20, BinaryPrimitives.ReadUInt64BigEndian(export));
        var flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(export.AsSpan(8));
        Assert.True(flags.HasFlag(NbdTransmissionFlags.ReadOnly));
        Assert.False(flags.HasFlag(NbdTransmissionFlags.SendDf));

        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 1, 4096, 100));
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(1));
        Assert.Equal(_readOnlyData.AsSpan(4096, 100).ToArray(), await peer.ReadExactlyAsync(100));

        // Each rejected request is answered alone: no payload follows an error, and a write's payload is skipped.
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 2, (1 << 20) - 10, 11));
        Assert.Equal(NbdError.Inval, await peer.ReadSimpleReplyAsync(2));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Write, 3, 0, 5, payload: "abcde"u8.ToArray()));
        Assert.Equal(NbdError.Perm, await peer.ReadSimpleReplyAsync(3));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 4, 0, 10, NbdCommandFlags.ReqOne));
        Assert.Equal(NbdError.Inval, await peer.ReadSimpleReplyAsync(4));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Flush, 5, 0, 0));
        Assert.Equal(NbdError.Inval, await peer.ReadSimpleReplyAsync(5));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.BlockStatus, 6, 0, 10));
        Assert.Equal(NbdError.Inval, await peer.ReadSimpleReplyAsync(6));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Trim, 7, 0, 10));
        Assert.Equal(NbdError.Perm, await peer.ReadSimpleReplyAsync(7));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 8, 0, NbdProtocol.MaxPayload + 1));
        Assert.Equal(NbdError.Inval, await peer.ReadSimpleReplyAsync(8));

        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 9, 0, 1));
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(9));
        Assert.Equal(_readOnlyData[..1], await peer.ReadExactlyAsync(1));

        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Disconnect, 10, 0, 0));
        await connection.Serving.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.True(await peer.IsClosedAsync());
        Assert.Equal(0, _logger.Warnings);
    }

    [Fact(Timeout = 30_000)]
    public async Task Writes_beyond_the_end_are_no_space_and_reads_are_structured()
    {
        var peer = InMemoryServer.Start(_server).Peer;
        await peer.GreetAsync(Fixed);
        await peer.SendOptionAsync(NbdOption.StructuredReply, []);
        await peer.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("rw"));

        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Write, 1, (1 << 20) - 2, 4, payload: [1, 2, 3, 4]));
        var (header, payload) = await ChunkAsync(peer);
        Assert.Equal((NbdReplyType.Error, 1UL), (header.Type, header.Cookie));
        Assert.True(NbdTransmissionCodec.TryParseError(payload, out var error, out _));
        Assert.Equal(NbdError.NoSpc, error);

        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Write, 2, 10, 4, NbdCommandFlags.Fua, payload: [1, 2, 3, 4]));
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(2));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 3, 8, 8, NbdCommandFlags.DontFragment));
        (header, payload) = await ChunkAsync(peer);
        Assert.Equal((NbdReplyType.OffsetData, NbdReplyFlags.Done, 3UL), (header.Type, header.Flags, header.Cookie));
        Assert.Equal(8UL, BinaryPrimitives.ReadUInt64BigEndian(payload));
        Assert.Equal(new byte[] { 0, 0, 1, 2, 3, 4, 0, 0 }, payload[8..]);
    }

    [Fact(Timeout = 30_000)]
    public async Task Malformed_requests_close_only_that_connection_with_one_warning()
    {
        var broken = InMemoryServer.Start(_server);
        var healthy = InMemoryServer.Start(_server);
        await broken.Peer.GreetAsync(Fixed);
        await healthy.Peer.GreetAsync(Fixed);
        Assert.Equal(NbdOptionReply.Ack, await broken.Peer.GoAsync("ro"));
        Assert.Equal(NbdOptionReply.Ack, await healthy.Peer.GoAsync("ro"));

        await broken.Peer.SendAsync(new byte[NbdTransmissionCodec.RequestSize]);
        await broken.Serving.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.True(await broken.Peer.IsClosedAsync());
        Assert.Equal(1, _logger.Warnings);

        await healthy.Peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 1, 0, 16));
        Assert.Equal(NbdError.None, await healthy.Peer.ReadSimpleReplyAsync(1));
        Assert.Equal(_readOnlyData[..16], await healthy.Peer.ReadExactlyAsync(16));
    }

    [Fact(Timeout = 30_000)]
    public async Task Unknown_client_flags_and_endless_options_end_the_handshake()
    {
        var badFlags = InMemoryServer.Start(_server);
        await badFlags.Peer.GreetAsync((NbdClientFlags)0x80);
        await badFlags.Serving.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);

        var chatty = InMemoryServer.Start(_server);
        await chatty.Peer.GreetAsync(Fixed);
        for (int i = 0; i < new NbdServerOptions().MaxOptions; i++)
        {
            await chatty.Peer.SendOptionAsync(NbdOption.StructuredReply, []);
            await chatty.Peer.ReadOptionReplyAsync();
        }
        await chatty.Serving.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.True(await chatty.Peer.IsClosedAsync());
        Assert.Equal(2, _logger.Warnings);
    }

    private static async Task<(NbdReplyHeader Header, byte[] Payload)> ChunkAsync(RawNbdPeer peer)
    {
        var bytes = await peer.ReadExactlyAsync(NbdTransmissionCodec.ChunkHeaderSize);
        Assert.True(NbdTransmissionCodec.TryPeekReplyHeader(new(bytes), out var header));
        Assert.True(header.IsStructured);
        return (header, await peer.ReadExactlyAsync((int)header.Length));
    }
}
