using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// A <c>sockaddr_ll</c> for binding an AF_PACKET socket to one interface and the AoE ethertype:
/// family (2 bytes, set by <see cref="SocketAddress"/>), protocol (network order), ifindex (host order),
/// then hardware type, packet type and address, which bind ignores.
/// </summary>
internal sealed class PacketEndPoint(int interfaceIndex) : EndPoint
{
    private const int Length = 20;

    public int InterfaceIndex { get; } = interfaceIndex;

    public override AddressFamily AddressFamily => AddressFamily.Packet;

    public override SocketAddress Serialize()
    {
        var address = new SocketAddress(AddressFamily.Packet, Length);
        Span<byte> bytes = address.Buffer.Span;
        BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], AoeProtocol.EtherType);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[4..], InterfaceIndex);
        return address;
    }

    public override EndPoint Create(SocketAddress socketAddress) =>
        new PacketEndPoint(BinaryPrimitives.ReadInt32LittleEndian(socketAddress.Buffer.Span[4..]));
}
