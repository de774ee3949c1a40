using System.Collections.Concurrent;
using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.Cli.Chaos.Fuzz;

/// <summary>
/// An initiator's frame channel wired straight to a target's frame handler in the same process: every frame
/// sent is handled at once, and the handler's replies wait to be received.
/// </summary>
internal sealed class LoopbackFrameChannel : IFrameChannel
{
    private readonly AoeTargetHandler _target;
    private readonly Inbox _inbox;
    private readonly CancellationTokenSource _closed = new();

    public LoopbackFrameChannel(MacAddress address, int mtu, AoeTargetHandler target)
    {
        Address = address;
        Mtu = mtu;
        _target = target;
        _inbox = new Inbox(target.MaxReplyLength);
    }

    public MacAddress Address { get; }

    public int Mtu { get; }

    public void Send(ReadOnlySpan<byte> frame)
    {
        // The target's devices are in memory, so handling completes synchronously in practice; one frame at a
        // time, because the handler writes its replies into the inbox's one buffer.
        lock (_inbox)
            _target.HandleAsync(frame.ToArray(), _inbox, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    public int Receive(Span<byte> buffer)
    {
        byte[] frame;
        try
        {
            frame = _inbox.Frames.Take(_closed.Token);
        }
        catch (OperationCanceledException)
        {
            throw new ObjectDisposedException(nameof(LoopbackFrameChannel));
        }
        int length = Math.Min(frame.Length, buffer.Length);
        frame.AsSpan(0, length).CopyTo(buffer);
        return length;
    }

    public void Dispose() => _closed.Cancel();

    private sealed class Inbox(int maxReplyLength) : IReplySink
    {
        private readonly byte[] _buffer = new byte[maxReplyLength];

        public BlockingCollection<byte[]> Frames { get; } = [];

        public Memory<byte> Reserve() => _buffer;

        public void Commit(int length) => Frames.Add(_buffer[..length]);
    }
}
