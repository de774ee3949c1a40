using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Whole Ethernet frames in and out of one interface (sending never blocks on the peer; a lost frame is not an error). The AoE target and initiator see only this, so
/// tests swap the raw socket for an in-memory link or a lossy wrapper.
/// </summary>
public interface IFrameChannel : IDisposable
{
    /// <summary>This end's Ethernet address (the source of every frame it sends).</summary>
    MacAddress Address { get; }

    /// <summary>The link MTU: the largest Ethernet payload, headers excluded.</summary>
    int Mtu { get; }

    /// <summary>Send one frame; a frame the link drops is not an error (AoE resends).</summary>
    void Send(ReadOnlySpan<byte> frame);

    /// <summary>
    /// Block until the next frame arrives and copy it into <paramref name="buffer"/>; returns its length
    /// (truncated to the buffer). Blocking on purpose: receivers are dedicated threads, which the kernel wakes
    /// directly, cheaper per frame than an async receive's hop through epoll and the thread pool. Disposing the
    /// channel ends a blocked call with <see cref="ObjectDisposedException"/> or a <see cref="System.Net.Sockets.SocketException"/>.
    /// </summary>
    int Receive(Span<byte> buffer);

    /// <summary>
    /// Block until at least one frame arrives, then take what else is already queued, up to the batch's capacity
    /// (one recvmmsg on a packet socket). This default takes one frame.
    /// </summary>
    void Receive(FrameBatch batch)
    {
        batch.Clear();
        var buffer = batch.Next();
        batch.Add(Receive(buffer.Span));
    }

    /// <summary>Send every frame of the batch (one sendmmsg on a packet socket); this default sends them one by one.</summary>
    void Send(FrameBatch batch)
    {
        for (int i = 0; i < batch.Count; i++)
            Send(batch.Frame(i).Span);
    }
}
