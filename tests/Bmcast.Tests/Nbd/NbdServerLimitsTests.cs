using System.Diagnostics;
using System.Net.Sockets;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// What one client (or many) can make the server hold: connections beyond the limit are closed at once,
/// a client that never chooses an export is dropped after the handshake timeout, and a request announcing
/// more than the maximum payload ends its connection without the server waiting for (or buffering) the payload.
/// </summary>
public sealed class NbdServerLimitsTests
{
    [Fact(Timeout = 30_000)]
    public async Task Connections_beyond_the_limit_are_closed_before_the_greeting_and_a_freed_slot_is_reused()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await TestServer.StartAsync(InMemoryServer.SmallCatalog(out _), options: new NbdServerOptions { MaxConnections = 2 });
        using var first = await ConnectGreetedAsync(server, ct);
        using var second = await ConnectGreetedAsync(server, ct);

        using (var third = await ConnectAsync(server, ct))
            Assert.Equal(0, await SocketReceive.UntilClosedOrAsync(third, NbdHandshakeCodec.GreetingSize, ct));

        // Once a client leaves, its slot is free again (the server notices the hang-up asynchronously).
        first.Close();
        while (true)
        {
            using var next = await ConnectAsync(server, ct);
            if (await SocketReceive.UntilClosedOrAsync(next, NbdHandshakeCodec.GreetingSize, ct) == NbdHandshakeCodec.GreetingSize)
                break;
            await Task.Delay(20, ct);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Connections_beyond_the_per_address_limit_are_closed_and_the_refusals_logged_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await TestServer.StartAsync(InMemoryServer.SmallCatalog(out _), options: new NbdServerOptions { MaxConnectionsPerPeer = 2 });
        using var first = await ConnectGreetedAsync(server, ct);
        using var second = await ConnectGreetedAsync(server, ct);

        for (int i = 0; i < 20; i++)
        {
            using var extra = await ConnectAsync(server, ct);
            Assert.Equal(0, await SocketReceive.UntilClosedOrAsync(extra, NbdHandshakeCodec.GreetingSize, ct));
        }
        // Twenty refusals, one line (the rest are counted in the next line, at most once per interval).
        Assert.Single(server.Logger.Lines, l => l.Contains("refusing a connection from 127.0.0.1", StringComparison.Ordinal));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_client_that_never_chooses_an_export_is_dropped_after_the_handshake_timeout()
    {
        var ct = TestContext.Current.CancellationToken;
        var timeout = TimeSpan.FromMilliseconds(300);
        await using var server = await TestServer.StartAsync(InMemoryServer.SmallCatalog(out _), options: new NbdServerOptions { HandshakeTimeout = timeout });
        var clock = Stopwatch.StartNew();
        using var idle = await ConnectAsync(server, ct);

        // Greeting, then nothing from us: the server must hang up by itself (the test's timeout bounds the wait).
        Assert.Equal(NbdHandshakeCodec.GreetingSize, await SocketReceive.UntilClosedOrAsync(idle, int.MaxValue, ct));
        // Timers may fire a few milliseconds early; half the timeout still tells the drop from an immediate close.
        Assert.True(clock.Elapsed >= timeout / 2, $"dropped after {clock.Elapsed}, long before the {timeout} timeout");
        Assert.Equal(1, server.Logger.Warnings);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_write_announcing_more_than_the_maximum_payload_ends_the_connection_without_waiting_for_it()
    {
        var connection = InMemoryServer.Start(new NbdServer(InMemoryServer.SmallCatalog(out _), new TestLogger<NbdServer>()));
        var peer = connection.Peer;
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("rw"));

        // Only the header: a server that waited for 4 GiB of payload would never close.
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Write, 1, 0, uint.MaxValue));
        await connection.Serving.WaitAsync(TestContext.Current.CancellationToken);
        Assert.True(await peer.IsClosedAsync());
    }

    /// <summary>
    /// A client that queues 64 large reads, never reads a reply and hangs up: the server must drop the requests it still
    /// holds, not read them for nobody (it used to read all 64, holding its budget in buffers long after the client left).
    /// </summary>
    [Fact(Timeout = 60_000)]
    public async Task Requests_still_queued_when_a_client_hangs_up_are_dropped_not_run()
    {
        const int Requests = 64;
        const uint Length = 2 << 20; // above the 1 MiB read at once: each read fills a buffer of its own
        var ct = TestContext.Current.CancellationToken;
        var device = new CountingDevice(8 << 20);
        var catalog = new MemoryExportCatalog().Add("big", () => device, "8 MiB");
        await using var server = await TestServer.StartAsync(catalog);
        using var socket = await ConnectAsync(server, ct);
        socket.ReceiveBufferSize = 4096;
        var peer = new RawNbdPeer(new StreamDuplexPipe(new NetworkStream(socket, ownsSocket: false)));
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("big"));
        await peer.SendAsync([.. Enumerable.Range(0, Requests).SelectMany(i => RawNbdPeer.Request(NbdCommand.Read, (ulong)i, 0, Length))]);

        // The connection's 64 MiB budget stops the server after about 32 reads, its replies stuck in the socket.
        long seen;
        do
        {
            seen = device.Reads;
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
        while (seen == 0 || device.Reads != seen);
        Assert.InRange(seen, 1, Requests - 16);
        Assert.True(server.Server.BytesInFlight > 0);
        socket.Close();
        while (server.Server.BytesInFlight > 0) // the connection has given back all it held: it is over
            await Task.Delay(20, ct);

        Assert.True(device.Reads <= seen + 1, $"{device.Reads} of {Requests} reads run, {seen} before the client hung up");
    }

    private static async Task<Socket> ConnectAsync(TestServer server, CancellationToken ct) => await server.Endpoint.ConnectAsync(ct);

    /// <summary>A connection the server accepted: it has sent its greeting.</summary>
    private static async Task<Socket> ConnectGreetedAsync(TestServer server, CancellationToken ct)
    {
        var socket = await ConnectAsync(server, ct);
        Assert.Equal(NbdHandshakeCodec.GreetingSize, await SocketReceive.UntilClosedOrAsync(socket, NbdHandshakeCodec.GreetingSize, ct));
        return socket;
    }
}
