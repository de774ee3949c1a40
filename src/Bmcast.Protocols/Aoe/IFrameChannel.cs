using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Whole Ethernet frames in and out of one interface (sending never blocks on the peer; a lost frame is not an error). The AoE target and initiator see only this, so
/// tests swap the raw socket for an in-memory link or a lossy wrapper.
/// </summary>
public interface IFrameChannel : IFrameSender, IDisposable
{
    /// <summary>This end's Ethernet address (the source of every frame it sends).</summary>
    MacAddress Address { get; }

    /// <summary>The link MTU: the largest Ethernet payload, headers excluded.</summary>
    int Mtu { get; }

    /// <summary>Receive the next frame into <paramref name="buffer"/>; returns its length (truncated to the buffer).</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);
}
