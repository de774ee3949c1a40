using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// Garbage and mutated traffic, many connections at a time, against the same server that a well-behaved client
/// is using over TCP: every bad connection must end by itself, none may fault the server or the good client.
/// </summary>
public sealed class NbdFuzzTests
{
    private const int Connections = 1200;
    private const int Parallelism = 8;

    [Fact(Timeout = 60_000)]
    public async Task Random_and_mutated_input_never_breaks_the_server_or_other_clients()
    {
        var ct = TestContext.Current.CancellationToken;
        var catalog = InMemoryServer.SmallCatalog(out var data);
        await using var server = new NbdServer(catalog, new TestLogger<NbdServer>());
        var endpoint = (System.Net.IPEndPoint)await server.StartAsync(NbdEndpoint.Tcp("127.0.0.1", 0), ct);
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(NbdEndpoint.Tcp("127.0.0.1", endpoint.Port), "ro"), ct);

        using var stop = new CancellationTokenSource();
        var healthyReads = ReadContinuouslyAsync(client, data, stop.Token);
        for (int batch = 0; batch < Connections / Parallelism; batch++)
        {
            await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(i => FeedOneConnectionAsync(server, seed: batch * Parallelism + i)));
        }
        await stop.CancelAsync();
        Assert.True(await healthyReads > 0);
    }

    private static async Task FeedOneConnectionAsync(NbdServer server, int seed)
    {
        var connection = InMemoryServer.Start(server);
        var draining = connection.Peer.DrainAsync();
        await connection.Peer.SendAsync(Input(new Random(seed)));
        await connection.Peer.EndInputAsync();
        // A faulted task here is an exception that escaped the connection: exactly what must never happen.
        await connection.Serving.WaitAsync(TimeSpan.FromSeconds(10));
        await draining.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Pure noise, a valid handshake followed by noise, or valid traffic with a few bytes flipped or cut.</summary>
    private static byte[] Input(Random random)
    {
        int kind = random.Next(3);
        if (kind == 0)
            return RandomBytes(random, random.Next(600));
        var valid = new List<byte>(ValidHandshake(random));
        if (kind == 1)
            return [.. valid, .. RandomBytes(random, random.Next(600))];
        for (int i = random.Next(1, 20); i > 0; i--)
            valid.AddRange(ValidLookingRequest(random));
        var bytes = valid.ToArray();
        for (int i = random.Next(1, 4); i > 0; i--)
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        return bytes[..random.Next(bytes.Length / 2, bytes.Length + 1)];
    }

    private static byte[] ValidHandshake(Random random)
    {
        var bytes = new List<byte>();
        var flags = new byte[NbdHandshakeCodec.ClientFlagsSize];
        NbdHandshakeCodec.WriteClientFlags(flags, NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        bytes.AddRange(flags);
        if (random.Next(2) == 0)
            bytes.AddRange(Option(NbdOption.StructuredReply, []));
        string export = random.Next(2) == 0 ? "ro" : "rw";
        var go = new byte[NbdHandshakeCodec.ExportRequestLength(export, 0)];
        NbdHandshakeCodec.WriteExportRequest(go, export, []);
        bytes.AddRange(Option(NbdOption.Go, go));
        return [.. bytes];
    }

    private static byte[] Option(NbdOption option, byte[] payload)
    {
        var bytes = new byte[NbdHandshakeCodec.OptionHeaderSize + payload.Length];
        NbdHandshakeCodec.WriteOptionHeader(bytes, option, payload.Length);
        payload.CopyTo(bytes, NbdHandshakeCodec.OptionHeaderSize);
        return bytes;
    }

    private static byte[] ValidLookingRequest(Random random)
    {
        var command = (NbdCommand)random.Next(9);
        uint length = (uint)random.Next(1 << 16);
        ulong offset = (ulong)random.Next(1 << 20);
        var flags = (NbdCommandFlags)random.Next(32);
        byte[]? payload = command == NbdCommand.Write ? RandomBytes(random, (int)length) : null;
        return RawNbdPeer.Request(command, (ulong)random.NextInt64(), offset, length, flags, payload);
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static async Task<int> ReadContinuouslyAsync(NbdClient client, byte[] data, CancellationToken stop)
    {
        int reads = 0;
        var random = new Random(5);
        var buffer = new byte[8192];
        while (!stop.IsCancellationRequested)
        {
            int offset = random.Next(data.Length - buffer.Length);
            await client.ReadAsync(offset, buffer, CancellationToken.None);
            Assert.True(data.AsSpan(offset, buffer.Length).SequenceEqual(buffer));
            reads++;
        }
        return reads;
    }
}
