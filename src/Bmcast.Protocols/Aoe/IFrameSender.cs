namespace Bmcast.Protocols.Aoe;

/// <summary>Where the target's frame handler puts its replies (one request may earn several: a broadcast query).</summary>
public interface IFrameSender
{
    void Send(ReadOnlySpan<byte> frame);
}
