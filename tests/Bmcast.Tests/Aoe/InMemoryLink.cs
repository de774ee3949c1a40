using System.Threading.Channels;
using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// Two frame channels joined like the ends of a veth pair: what one sends, the other receives,
/// except what the link drops (a seeded fraction, for loss tests).
/// </summary>
internal static class InMemoryLink
{
    public static (Endpoint A, Endpoint B) Create(int mtu = 1500, double loss = 0, int seed = 1)
    {
        var toA = Channel.CreateUnbounded<byte[]>();
        var toB = Channel.CreateUnbounded<byte[]>();
        var random = new Random(seed);
        return (new Endpoint(new MacAddress(0x02_00_00_00_00_0A), mtu, toA.Reader, toB.Writer, loss, random),
                new Endpoint(new MacAddress(0x02_00_00_00_00_0B), mtu, toB.Reader, toA.Writer, loss, random));
    }

    public sealed class Endpoint(MacAddress address, int mtu, ChannelReader<byte[]> inbox, ChannelWriter<byte[]> peer, double loss, Random random)
        : IFrameChannel
    {
        private readonly CancellationTokenSource _closed = new();

        public MacAddress Address => address;

        public int Mtu => mtu;

        public long Sent;

        public void Send(ReadOnlySpan<byte> frame)
        {
            Interlocked.Increment(ref Sent);
            bool drop;
            lock (random)
                drop = random.NextDouble() < loss;
            if (!drop)
                peer.TryWrite(frame.ToArray());
        }

        public int Receive(Span<byte> buffer)
        {
            byte[] frame;
            try
            {
                frame = inbox.ReadAsync(_closed.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new ObjectDisposedException(nameof(Endpoint));
            }
            int length = Math.Min(frame.Length, buffer.Length);
            frame.AsSpan(0, length).CopyTo(buffer);
            return length;
        }

        public void Dispose() => _closed.Cancel();
    }
}
