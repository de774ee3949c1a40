using System.Net;
using System.Net.Sockets;
using Bmcast.TestKit.Processes;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Bmcast.Tests.Images;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// Clients that send many large READs and never read the replies (the probe of issue 15 took <c>bmcast serve</c> from
/// 43 MiB to 6.2 GiB this way): the server's memory stays within its bytes-in-flight bound while they do, another
/// client is served meanwhile, and the memory goes back once they leave.
/// </summary>
public sealed class UnreadRepliesTests
{
    private const int ImageSize = 64 << 20;
    private const int HostileClients = 3;
    private const int ReadsPerClient = 64;
    private const uint ReadLength = NbdProtocol.MaxPayload;

    /// <summary>
    /// The stated bound: each hostile connection holds at most its 64 MiB budget of reply data, plus the copy of one
    /// reply in its socket writer; 128 MiB more covers the runtime's own growth under load.
    /// </summary>
    private const long GrowthBound = HostileClients * 2 * (64L << 20) + (128L << 20);

    [Fact(Timeout = 300_000)]
    public async Task Clients_that_never_read_replies_stay_within_the_bound_and_do_not_stall_others()
    {
        var ct = TestContext.Current.CancellationToken;
        using var store = new TempStore();
        var image = new byte[ImageSize];
        new Random(15).NextBytes(image);
        await File.WriteAllBytesAsync(store.PathFor("disk.raw"), image, ct);
        await store.ImportAsync(store.PathFor("disk.raw"), "disk");

        await using var server = BmcastProcess.Start("serve", "--store", store.Store.Root, "--nbd", "127.0.0.1:0");
        var endpoint = await server.LoopbackListenerAsync(TimeSpan.FromMinutes(1));
        await ReadAndCheckAsync(endpoint, image, ct); // Warm: the baseline includes a served request.
        long baseline = ResidentMemory.BytesOf(server.Pid);

        var hostile = new List<Socket>();
        try
        {
            for (int i = 0; i < HostileClients; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                hostile.Add(socket);
                await socket.ConnectAsync(endpoint, ct);
                var peer = new RawNbdPeer(new StreamDuplexPipe(new NetworkStream(socket)));
                await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
                Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("disk"));
                for (int r = 0; r < ReadsPerClient; r++)
                    await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, (ulong)r, (ulong)(r % 2) * ReadLength, ReadLength));
            }

            // While they hold their replies, another client is served, and the server's memory stays bounded.
            long peak = 0;
            for (int round = 0; round < 20; round++)
            {
                await ReadAndCheckAsync(endpoint, image, ct);
                peak = Math.Max(peak, ResidentMemory.BytesOf(server.Pid) - baseline);
                Assert.True(peak <= GrowthBound, $"server grew by {peak >> 20} MiB with clients not reading (bound {GrowthBound >> 20} MiB)");
                await Task.Delay(250, ct);
            }
            TestContext.Current.TestOutputHelper?.WriteLine($"peak growth {peak >> 20} MiB, bound {GrowthBound >> 20} MiB");
        }
        finally
        {
            foreach (var socket in hostile)
                socket.Dispose();
        }

        // Their memory goes back once they have gone.
        long growth = long.MaxValue;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline && growth > 64L << 20; await Task.Delay(200, ct))
            growth = ResidentMemory.BytesOf(server.Pid) - baseline;
        Assert.True(growth <= 64L << 20, $"server still {growth >> 20} MiB above its baseline after the clients left");
    }

    /// <summary>One client's READ of 1 MiB at 5 MiB, checked against the image.</summary>
    private static async Task ReadAndCheckAsync(IPEndPoint endpoint, byte[] image, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await socket.ConnectAsync(endpoint, timeout.Token);
        var peer = new RawNbdPeer(new StreamDuplexPipe(new NetworkStream(socket)));
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes).WaitAsync(timeout.Token);
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("disk").WaitAsync(timeout.Token));
        const int offset = 5 << 20, length = 1 << 20;
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 7, offset, length));
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(7).WaitAsync(timeout.Token));
        var data = await peer.ReadExactlyAsync(length).WaitAsync(timeout.Token);
        Assert.True(image.AsSpan(offset, length).SequenceEqual(data));
    }
}
