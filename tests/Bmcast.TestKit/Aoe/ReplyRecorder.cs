using Bmcast.Protocols.Aoe;

namespace Bmcast.TestKit.Aoe;

/// <summary>Keeps a copy of every reply a target's frame handler commits, in order.</summary>
public sealed class ReplyRecorder(int maxReplyLength) : IReplySink
{
    private readonly byte[] _buffer = new byte[maxReplyLength];

    public List<byte[]> Frames { get; } = [];

    public Memory<byte> Reserve() => _buffer;

    public void Commit(int length) => Frames.Add(_buffer[..length]);
}
