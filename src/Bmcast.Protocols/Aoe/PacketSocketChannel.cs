using System.Buffers.Binary;
using System.Net.Sockets;
using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// An AF_PACKET raw socket bound to one interface and ethertype 0x88A2 (needs CAP_NET_RAW). The kernel
/// delivers only AoE frames addressed to this interface (or broadcast), and not our own outgoing ones.
/// </summary>
public sealed class PacketSocketChannel : IFrameChannel
{
    private const int SocketBufferBytes = 8 << 20;
    private readonly Socket _socket;

    private PacketSocketChannel(Socket socket, NetworkInterfaceInfo info)
    {
        _socket = socket;
        Interface = info;
    }

    public NetworkInterfaceInfo Interface { get; }

    public MacAddress Address => Interface.Address;

    public int Mtu => Interface.Mtu;

    public static PacketSocketChannel Open(string interfaceName)
    {
        var info = NetworkInterfaceInfo.Read(interfaceName);
        // The protocol argument is the ethertype in network byte order, as socket(2) expects for AF_PACKET.
        var protocol = (ProtocolType)(BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(AoeProtocol.EtherType) : AoeProtocol.EtherType);
        var socket = new Socket(AddressFamily.Packet, SocketType.Raw, protocol);
        try
        {
            socket.ReceiveBufferSize = SocketBufferBytes;
            socket.SendBufferSize = SocketBufferBytes;
            socket.Bind(new PacketEndPoint(info.Index));
            return new PacketSocketChannel(socket, info);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Send(ReadOnlySpan<byte> frame) => _socket.Send(frame);

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public void Dispose() => _socket.Dispose();
}
