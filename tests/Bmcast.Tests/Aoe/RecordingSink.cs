using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

/// <summary>Keeps a copy of every reply the target handler commits, and optionally sends it on over a channel.</summary>
internal sealed class RecordingSink(int frameSize, IFrameChannel? forward = null) : IReplySink
{
    private readonly byte[] _buffer = new byte[frameSize];

    public List<byte[]> Frames { get; } = [];

    public Memory<byte> Reserve() => _buffer;

    public void Commit(int length)
    {
        var frame = _buffer[..length];
        lock (Frames)
            Frames.Add(frame);
        forward?.Send(frame);
    }
}
