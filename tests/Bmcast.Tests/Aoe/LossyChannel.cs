using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

/// <summary>Drops a seeded fraction of frames both ways: the loss netem would add, for kernels without sch_netem.</summary>
internal sealed class LossyChannel(IFrameChannel inner, double loss, int seed) : IFrameChannel
{
    private readonly Random _random = new(seed);

    public long Dropped;

    /// <summary>The fraction dropped from now on; 1 silences the link.</summary>
    public double Loss { get; set; } = loss;

    public MacAddress Address => inner.Address;

    public int Mtu => inner.Mtu;

    public void Send(ReadOnlySpan<byte> frame)
    {
        if (!Drop())
            inner.Send(frame);
    }

    public int Receive(Span<byte> buffer)
    {
        while (true)
        {
            int length = inner.Receive(buffer);
            if (!Drop())
                return length;
        }
    }

    private bool Drop()
    {
        lock (_random)
        {
            if (_random.NextDouble() >= Loss)
                return false;
        }
        Interlocked.Increment(ref Dropped);
        return true;
    }

    public void Dispose() => inner.Dispose();
}
