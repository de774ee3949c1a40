using System.Threading.Channels;
using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;

namespace Bmcast.TestKit.Aoe;

/// <summary>
/// Two frame channels joined like the ends of a veth pair, in memory: what one sends, the other
/// receives. The AoE initiator fuzz target talks to a real <see cref="AoeTarget"/> over it; tests add
/// loss with a wrapper.
/// </summary>
public static class InMemoryLink
{
    public static (Endpoint A, Endpoint B) Create(int mtu = 1500)
    {
        var toA = Channel.CreateUnbounded<byte[]>();
        var toB = Channel.CreateUnbounded<byte[]>();
        return (new Endpoint(new MacAddress(0x02_00_00_00_00_0A), mtu, toA.Reader, toB.Writer),
                new Endpoint(new MacAddress(0x02_00_00_00_00_0B), mtu, toB.Reader, toA.Writer));
    }

    public sealed class Endpoint(MacAddress address, int mtu, ChannelReader<byte[]> inbox, ChannelWriter<byte[]> peer) : IFrameChannel
    {
        private readonly CancellationTokenSource _closed = new();

        public MacAddress Address => address;

        public int Mtu => mtu;

        public void Send(ReadOnlySpan<byte> frame) => peer.TryWrite(frame.ToArray());

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
