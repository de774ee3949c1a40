using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

[CollectionDefinition(nameof(AllocationMeasurements), DisableParallelization = true)]
public sealed class AllocationMeasurements;

/// <summary>
/// The server's request path should not allocate per request once warm (pooled buffers, synchronous
/// completion, pooled state machines otherwise). Measured process-wide, so this runs alone.
/// </summary>
[Collection(nameof(AllocationMeasurements))]
public sealed class NbdAllocationTests
{
    private const int Requests = 20_000;
    // Small enough that replies never fill the in-memory pipe (64 KiB): back-pressure makes handlers go
    // asynchronous, which allocates by design and is not what this measures.
    private const int Batch = 8;

    [Fact(Timeout = 30_000)]
    public async Task Reads_allocate_almost_nothing_per_request()
    {
        // Debug builds compile async state machines as classes, so every call allocates: only Release measures anything.
        if (typeof(NbdServer).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
                is [System.Diagnostics.DebuggableAttribute { IsJITOptimizerDisabled: true }])
            Assert.Skip("allocation budget is checked in Release builds only (dotnet test -c Release)");
        var server = new NbdServer(InMemoryServer.SmallCatalog(out _), new TestLogger<NbdServer>());
        var connection = InMemoryServer.Start(server);
        var peer = connection.Peer;
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes);
        await peer.SendOptionAsync(NbdOption.StructuredReply, []);
        await peer.ReadOptionReplyAsync();
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("ro"));
        var batch = Enumerable.Range(0, Batch).SelectMany(i => RawNbdPeer.Request(NbdCommand.Read, (ulong)i, (ulong)(i * 512), 4096)).ToArray();
        int replySize = NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.OffsetDataPrefixSize + 4096;

        await RunAsync(peer, batch, replySize, 100); // warm up pools and JIT
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await RunAsync(peer, batch, replySize, Requests / Batch);
        long perRequest = (GC.GetTotalAllocatedBytes(precise: true) - before) / Requests;

        TestContext.Current.TestOutputHelper?.WriteLine($"{perRequest} bytes allocated per request (server and test peer)");
        Assert.InRange(perRequest, 0, 64); // In Release the server allocates nothing; the rest is the test peer.
    }

    private static async Task RunAsync(RawNbdPeer peer, byte[] batch, int replySize, int batches)
    {
        for (int i = 0; i < batches; i++)
        {
            await peer.SendAsync(batch);
            await peer.SkipAsync(replySize * Batch);
        }
    }
}
