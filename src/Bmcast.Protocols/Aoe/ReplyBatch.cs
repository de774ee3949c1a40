namespace Bmcast.Protocols.Aoe;

/// <summary>Replies collected in place and sent in one batch when full or flushed: one sendmmsg per received batch.</summary>
internal sealed class ReplyBatch(IFrameChannel channel, int capacity, int frameSize) : IReplySink
{
    private readonly FrameBatch _frames = new(capacity, frameSize);

    public Memory<byte> Reserve()
    {
        if (_frames.IsFull)
            Flush();
        return _frames.Next();
    }

    public void Commit(int length) => _frames.Add(length);

    public void Flush()
    {
        if (_frames.Count > 0)
            channel.Send(_frames);
        _frames.Clear();
    }
}
