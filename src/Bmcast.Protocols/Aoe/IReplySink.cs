namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Where the target's frame handler writes its replies, in place (one request may earn several: a broadcast
/// query is answered by every slot).
/// </summary>
public interface IReplySink
{
    /// <summary>Room for the next reply, at least the handler's <see cref="AoeTargetHandler.MaxReplyLength"/> bytes; nothing goes out without <see cref="Commit"/>.</summary>
    Memory<byte> Reserve();

    /// <summary>Send, now or with the rest of a batch, the first <paramref name="length"/> bytes of the last reserved buffer.</summary>
    void Commit(int length);
}
