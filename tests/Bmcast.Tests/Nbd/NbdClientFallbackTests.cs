using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// Our client against scripted servers: an old-fashioned one that knows neither OPT_GO nor structured replies
/// (the client must fall back to OPT_EXPORT_NAME and read simple replies), and one that answers with garbage.
/// </summary>
public sealed class NbdClientFallbackTests
{
    [Fact(Timeout = 30_000)]
    public async Task Falls_back_to_export_name_and_simple_replies()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = ListenOnLoopback(backlog: 1);
        var data = Enumerable.Range(0, 8192).Select(i => (byte)i).ToArray();
        var server = ServeOneAsync(listener, stream => ServeOldStyleAsync(stream, data, ct), ct);

        await using (var client = await NbdClient.ConnectAsync(OldExport(listener), ct))
        {
            Assert.False(client.Export.StructuredReplies);
            Assert.Equal(data.Length, client.Size);
            var buffer = new byte[100];
            await client.ReadAsync(1000, buffer, ct);
            Assert.Equal(data.AsSpan(1000, 100).ToArray(), buffer);
            var error = await Assert.ThrowsAsync<Bmcast.Core.Storage.BlockDeviceException>(() => client.ReadAsync(0, buffer, ct).AsTask());
            Assert.Equal(5, error.Errno);
        }
        await server;
    }

    [Fact(Timeout = 30_000)]
    public async Task Garbage_replies_fail_requests_with_io_exceptions()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = ListenOnLoopback(backlog: 8);
        for (int seed = 0; seed < 100; seed++)
        {
            var random = new Random(seed);
            var server = ServeOneAsync(listener, async stream =>
            {
                await HandshakeAsync(stream, 1 << 20, ct);
                await stream.ReadExactlyAsync(new byte[NbdTransmissionCodec.RequestSize], ct);
                var garbage = new byte[random.Next(4, 200)];
                random.NextBytes(garbage);
                if (random.Next(2) == 0) // Sometimes a plausible header first, so deeper parsing is reached.
                    BinaryPrimitives.WriteUInt32BigEndian(garbage, random.Next(2) == 0 ? NbdProtocol.SimpleReplyMagic : NbdProtocol.StructuredReplyMagic);
                await stream.WriteAsync(garbage, ct);
            }, ct);

            await using var client = await NbdClient.ConnectAsync(OldExport(listener), ct);
            await Assert.ThrowsAnyAsync<IOException>(() => client.ReadAsync(0, new byte[512], ct).AsTask().WaitAsync(TimeSpan.FromSeconds(5), ct));
            await server;
        }
    }

    private static Socket ListenOnLoopback(int backlog)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(backlog);
        return listener;
    }

    /// <summary>The export the scripted servers offer, at <paramref name="listener"/>'s port.</summary>
    private static NbdUri OldExport(Socket listener) => NbdUri.Parse($"nbd://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}/old");

    /// <summary>Accept one client and run <paramref name="serve"/> on its connection.</summary>
    private static Task ServeOneAsync(Socket listener, Func<NetworkStream, Task> serve, CancellationToken ct) => Task.Run(async () =>
    {
        using var socket = await listener.AcceptAsync(ct);
        await using var stream = new NetworkStream(socket);
        await serve(stream);
    }, ct);

    /// <summary>Answer every option but EXPORT_NAME with ERR_UNSUP, then serve reads: the first from data, the next with EIO.</summary>
    private static async Task ServeOldStyleAsync(NetworkStream stream, byte[] data, CancellationToken ct)
    {
        await HandshakeAsync(stream, data.Length, ct);
        for (int served = 0; ; served++)
        {
            var request = new byte[NbdTransmissionCodec.RequestSize];
            await stream.ReadExactlyAsync(request, ct);
            var command = (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(6));
            if (command == NbdCommand.Disconnect)
                return;
            ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(request.AsSpan(8));
            int offset = (int)BinaryPrimitives.ReadUInt64BigEndian(request.AsSpan(16));
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(24));
            var reply = new byte[NbdTransmissionCodec.SimpleReplySize];
            NbdTransmissionCodec.WriteSimpleReply(reply, served == 0 ? NbdError.None : NbdError.Io, cookie);
            await stream.WriteAsync(reply, ct);
            if (served == 0)
                await stream.WriteAsync(data.AsMemory(offset, length), ct);
        }
    }

    /// <summary>Answer every option but EXPORT_NAME with ERR_UNSUP; accept EXPORT_NAME "old" as a read-only export.</summary>
    private static async Task HandshakeAsync(NetworkStream stream, long size, CancellationToken ct)
    {
        var greeting = new byte[NbdHandshakeCodec.GreetingSize];
        NbdHandshakeCodec.WriteGreeting(greeting, NbdHandshakeFlags.FixedNewstyle);
        await stream.WriteAsync(greeting, ct);
        await stream.ReadExactlyAsync(new byte[NbdHandshakeCodec.ClientFlagsSize], ct);
        while (true)
        {
            var header = new byte[NbdHandshakeCodec.OptionHeaderSize];
            await stream.ReadExactlyAsync(header, ct);
            var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
            var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12))];
            await stream.ReadExactlyAsync(payload, ct);
            if (option == NbdOption.ExportName)
            {
                Assert.Equal("old"u8.ToArray(), payload);
                var reply = new byte[NbdHandshakeCodec.ExportNameReplySize + NbdProtocol.ExportNameReplyPadding];
                NbdHandshakeCodec.WriteExportNameReply(reply, (ulong)size, NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.ReadOnly, noZeroes: false);
                await stream.WriteAsync(reply, ct);
                return;
            }
            var unsupported = new byte[NbdHandshakeCodec.OptionReplyHeaderSize];
            NbdHandshakeCodec.WriteOptionReplyHeader(unsupported, option, NbdOptionReply.ErrUnsup, 0);
            await stream.WriteAsync(unsupported, ct);
        }
    }
}
