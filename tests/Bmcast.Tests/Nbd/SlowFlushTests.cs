using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// A FLUSH runs off the connection's parse loop (issue 13, item 2): a device's slow flush (an fdatasync of a large
/// page cache) holds up only the FLUSH's own reply, never the requests sent after it.
/// </summary>
public sealed class SlowFlushTests
{
    private const NbdClientFlags Fixed = NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes;

    [Fact(Timeout = 30_000)]
    public async Task A_read_sent_after_a_flush_is_answered_while_the_flush_still_runs()
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var device = new FlushGate(new MemoryBlockDevice(new byte[1 << 20], writable: true), flushed.Task);
        var catalog = new MemoryExportCatalog().Add("disk", () => device);
        var peer = InMemoryServer.Start(new NbdServer(catalog, new TestLogger<NbdServer>())).Peer;
        await peer.GreetAsync(Fixed);
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("disk"));

        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Flush, 1, 0, 0));
        await device.FlushStarted;
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 2, 0, 512));
        // The read's reply comes first (the peer checks the cookie), with the flush still held.
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(2));
        await peer.SkipAsync(512);
        Assert.False(flushed.Task.IsCompleted);

        flushed.SetResult();
        Assert.Equal(NbdError.None, await peer.ReadSimpleReplyAsync(1));
    }

    /// <summary>A device whose flush waits until the test lets it end.</summary>
    private sealed class FlushGate(IBlockDevice inner, Task release) : ForwardingBlockDevice(inner)
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task FlushStarted => _started.Task;

        public override async ValueTask FlushAsync(CancellationToken ct)
        {
            _started.TrySetResult();
            await release.WaitAsync(ct);
            await Inner.FlushAsync(ct);
        }
    }
}
