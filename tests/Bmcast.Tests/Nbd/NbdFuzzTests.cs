using Bmcast.Chaos.Fuzz;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// The NBD server inputs of <c>bmcast chaos fuzz</c> (which feeds them one at a time, see NbdServerFuzzTarget),
/// here many connections at a time against the same server that a well-behaved client is using over TCP:
/// every bad connection must end by itself, none may fault the server or the good client.
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
        await connection.Peer.SendAsync(NbdServerInputs.Generate(new Random(seed)));
        await connection.Peer.EndInputAsync();
        // A faulted task here is an exception that escaped the connection: exactly what must never happen.
        await connection.Serving.WaitAsync(TimeSpan.FromSeconds(10));
        await draining.WaitAsync(TimeSpan.FromSeconds(10));
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
