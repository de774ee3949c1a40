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
    /// <summary>
    /// Closing a packet socket does not wake a thread blocked in recv(2), so receives time out now and then
    /// to notice disposal; an idle receiver wakes five times a second, a busy one never times out.
    /// </summary>
    private const int ReceiveTimeoutMilliseconds = 200;
    private readonly Socket _socket;
    private volatile bool _disposed;

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
            socket.ReceiveTimeout = ReceiveTimeoutMilliseconds;
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

    public int Receive(Span<byte> buffer)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                return _socket.Receive(buffer);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _socket.Dispose();
    }
}
