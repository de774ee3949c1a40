using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

internal sealed class RecordingSender : IFrameSender
{
    public List<byte[]> Frames { get; } = [];

    public void Send(ReadOnlySpan<byte> frame)
    {
        lock (Frames)
            Frames.Add(frame.ToArray());
    }
}
