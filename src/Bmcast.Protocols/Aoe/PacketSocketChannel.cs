using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Bmcast.Core.Aoe;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// An AF_PACKET raw socket bound to one interface and ethertype 0x88A2 (needs CAP_NET_RAW). The kernel
/// delivers only AoE frames addressed to this interface (or broadcast), and not our own outgoing ones.
/// Frames arrive through a <see cref="PacketReceiveRing"/> shared with the kernel (no syscall while frames are waiting),
/// or, where the ring cannot be set up, through recvmmsg (one syscall per batch); batches go out through sendmmsg: at
/// MTU 1500 a frame carries 1 KiB, so one syscall per frame would cost more than the frame's bytes.
/// </summary>
public sealed unsafe class PacketSocketChannel : IFrameChannel
{
    private const int MessageWaitForOne = 0x10000; // MSG_WAITFORONE: block for the first message only
    private const int ErrorInterrupted = 4;         // EINTR
    private const int ErrorWouldBlock = 11;         // EAGAIN: SO_RCVTIMEO expired

    private const int SocketBufferBytes = 8 << 20;
    /// <summary>
    /// Closing a packet socket does not wake a thread blocked in recv(2), so receives time out now and then
    /// to notice disposal; an idle receiver wakes five times a second, a busy one never times out.
    /// </summary>
    private const int ReceiveTimeoutMilliseconds = 200;
    private readonly Socket _socket;
    private readonly PacketReceiveRing? _ring;
    /// <summary>The one-frame batch <see cref="Receive(Span{byte})"/> takes from the ring through; guarded by itself.</summary>
    private readonly FrameBatch? _single;
    private volatile bool _disposed;

    private PacketSocketChannel(Socket socket, NetworkInterfaceInfo info, PacketReceiveRing? ring, string receivePath)
    {
        _socket = socket;
        _ring = ring;
        _single = ring is null ? null : new FrameBatch(1, ring.MaxFrameLength);
        Interface = info;
        ReceivePath = receivePath;
    }

    public NetworkInterfaceInfo Interface { get; }

    public MacAddress Address => Interface.Address;

    public int Mtu => Interface.Mtu;

    /// <summary>How frames arrive: the ring and its size, or recvmmsg and why the ring could not be set up.</summary>
    public string ReceivePath { get; }

    /// <summary>
    /// Open a socket on <paramref name="interfaceName"/>, with a receive ring unless <paramref name="ring"/> is false; a ring
    /// the kernel refuses leaves the socket on recvmmsg, with a warning saying why on <paramref name="logger"/>.
    /// </summary>
    public static PacketSocketChannel Open(string interfaceName, ILogger? logger = null, bool ring = true)
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
            // A slot holds a frame at the MTU and some slack, so an oversized frame is seen as such rather than cut to fit.
            PacketReceiveRing? receiveRing = null;
            string? failure = "not asked for";
            if (ring)
            {
                receiveRing = PacketReceiveRing.TryCreate((int)socket.SafeHandle.DangerousGetHandle(),
                    AoeProtocol.EthernetHeaderLength + info.Mtu + 64, out failure);
                if (receiveRing is null)
                    logger?.LogWarning("AoE on {Interface}: no receive ring ({Reason}); receiving with recvmmsg", interfaceName, failure);
            }
            try
            {
                socket.Bind(new PacketEndPoint(info.Index));
            }
            catch
            {
                receiveRing?.Dispose();
                throw;
            }
            return new PacketSocketChannel(socket, info, receiveRing, receiveRing?.ToString() ?? $"recvmmsg (no receive ring: {failure})");
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
        if (_single is not null)
        {
            lock (_single)
            {
                Receive(_single);
                var frame = _single.Frame(0).Span;
                int length = Math.Min(frame.Length, buffer.Length);
                frame[..length].CopyTo(buffer);
                return length;
            }
        }
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

    public void Receive(FrameBatch batch)
    {
        if (_ring is not null)
        {
            ReceiveFromRing(_ring, batch);
            return;
        }
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int received;
            int fd = AcquireDescriptor();
            try
            {
                received = ReceiveMessages(fd, batch.PrepareReceive(), (uint)batch.Capacity, MessageWaitForOne, null);
            }
            finally
            {
                _socket.SafeHandle.DangerousRelease();
            }
            if (received > 0)
            {
                batch.Received(received);
                return;
            }
            int error = Marshal.GetLastPInvokeError();
            if (received < 0 && error is not (ErrorWouldBlock or ErrorInterrupted))
                throw new SocketException(error);
        }
    }

    private void ReceiveFromRing(PacketReceiveRing ring, FrameBatch batch)
    {
        ring.HandBack(batch); // first: after a dispose too, so the ring is unmapped once nothing is lent
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int fd = AcquireDescriptor();
            try
            {
                // The poll times out now and then so a disposed channel is noticed, as recv's timeout does.
                if (ring.Take(fd, batch, ReceiveTimeoutMilliseconds) > 0)
                    return;
            }
            finally
            {
                _socket.SafeHandle.DangerousRelease();
            }
        }
    }

    public void Send(FrameBatch batch)
    {
        int fd = AcquireDescriptor();
        try
        {
            int next = 0;
            while (next < batch.Count)
            {
                int sent = SendMessages(fd, batch.PrepareSend(next), (uint)(batch.Count - next), 0);
                if (sent < 0 && Marshal.GetLastPInvokeError() == ErrorInterrupted)
                    continue;
                // A frame the kernel refuses (a full device queue, a link blip) is one more lost frame: AoE resends.
                next += Math.Max(1, sent);
            }
        }
        finally
        {
            _socket.SafeHandle.DangerousRelease();
        }
    }

    /// <summary>
    /// The socket's descriptor with a reference held (release it with DangerousRelease), so a concurrent dispose
    /// cannot close the descriptor, and the process reuse its number, in the middle of a syscall.
    /// </summary>
    private int AcquireDescriptor()
    {
        bool added = false;
        _socket.SafeHandle.DangerousAddRef(ref added); // throws ObjectDisposedException once closed
        return (int)_socket.SafeHandle.DangerousGetHandle();
    }

    [DllImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static extern int ReceiveMessages(int socket, FrameBatch.MessageHeader* messages, uint count, int flags, void* timeout);

    [DllImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static extern int SendMessages(int socket, FrameBatch.MessageHeader* messages, uint count, int flags);

    public void Dispose()
    {
        _disposed = true;
        _socket.Dispose();
        _ring?.Dispose();
    }
}
