using System.Buffers;
using System.Runtime.InteropServices;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// A <c>PACKET_MMAP</c> receive ring (<c>PACKET_RX_RING</c>, <c>TPACKET_V2</c>) on an AF_PACKET socket: the kernel writes
/// each arriving frame into a slot of memory shared with us and flips the slot's status word, so frames that are already
/// there cost no syscall at all; only an empty ring waits in <c>poll</c>. Taking a frame copies it out and hands the slot
/// straight back, so any number of threads may take frames (under one lock, in ring order, as the kernel fills it); a
/// batch with a single receiver (<see cref="FrameBatch.MayBorrow"/>, the initiator's) is lent the frames where they lie
/// instead, and hands their slots back at its next take: the reply's data is then copied once, from the ring to the
/// reader's buffer. (The target's receivers share the ring and take small requests: they copy, so that no thread's
/// poll wakes for a slot another thread still holds.)
/// </summary>
/// <remarks>
/// Why V2 and not V3: a V3 ring hands over whole blocks, and a block is handed over only when full or when its timer
/// (at least one jiffy, 4-10 ms) expires. AoE is request and reply: a lone request, or the last replies of a burst, would
/// wait for that timer, which is the latency of a miss many times over. V2 hands over every frame at once (libpcap's
/// "immediate mode" takes V2 for the same reason).
/// </remarks>
internal sealed unsafe class PacketReceiveRing : IDisposable
{
    private const int SolPacket = 263;
    private const int PacketRxRing = 5;
    private const int PacketVersion = 10;
    private const int TpacketV2 = 1;
    private const uint StatusKernel = 0;
    private const uint StatusUser = 1;
    private const int ProtRead = 1, ProtWrite = 2, MapShared = 1;
    private const short PollIn = 1;
    private const int ErrorInterrupted = 4;
    private const int PageSize = 4096;
    /// <summary>Frames the ring holds: an initiator's whole window (256) several times over, as the socket buffer held before.</summary>
    private const int TargetFrames = 1024;
    /// <summary>Where the kernel puts the Ethernet header in a V2 slot: TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14.</summary>
    private const int MacOffset = 66;

    private readonly Lock _lock = new();
    private readonly byte* _base;
    private readonly nuint _length;
    private readonly int _frameSize;
    private readonly int _blockSize;
    private readonly int _framesPerBlock;
    private readonly MappedMemory _memory;
    private int _next;
    /// <summary>Slots lent out and not handed back yet: unmapping waits for them.</summary>
    private int _lent;
    private bool _disposed;
    private bool _unmapped;

    private PacketReceiveRing(byte* mapped, nuint length, int frameSize, int blockSize, int frames)
    {
        _base = mapped;
        _length = length;
        _frameSize = frameSize;
        _blockSize = blockSize;
        _framesPerBlock = blockSize / frameSize;
        Frames = frames;
        _memory = new MappedMemory(mapped, (int)length);
    }

    public int Frames { get; }

    /// <summary>The largest frame a slot keeps whole; longer ones arrive truncated, as a short receive buffer truncates.</summary>
    public int MaxFrameLength => _frameSize - MacOffset;

    public override string ToString() => $"TPACKET_V2 receive ring, {Frames} slots of {_frameSize} bytes";

    /// <summary>
    /// Set a ring up on <paramref name="socket"/> (before it is bound, so no frame goes to the ordinary queue) for frames up to
    /// <paramref name="maxFrameLength"/> bytes; null, with the kernel's reason, when it cannot be.
    /// </summary>
    public static PacketReceiveRing? TryCreate(int socket, int maxFrameLength, out string? failure)
    {
        int frameSize = (MacOffset + maxFrameLength + 15) & ~15;
        int blockSize = (frameSize * 8 + PageSize - 1) / PageSize * PageSize;
        int framesPerBlock = blockSize / frameSize;
        int blocks = (TargetFrames + framesPerBlock - 1) / framesPerBlock;
        int version = TpacketV2;
        if (SetOption(socket, SolPacket, PacketVersion, &version, sizeof(int)) != 0)
        {
            failure = $"PACKET_VERSION TPACKET_V2: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            return null;
        }
        var request = new RingRequest { BlockSize = (uint)blockSize, BlockCount = (uint)blocks, FrameSize = (uint)frameSize, FrameCount = (uint)(blocks * framesPerBlock) };
        if (SetOption(socket, SolPacket, PacketRxRing, &request, (uint)sizeof(RingRequest)) != 0)
        {
            failure = $"PACKET_RX_RING of {blocks} x {blockSize} bytes: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            return null;
        }
        nuint length = (nuint)blockSize * (nuint)blocks;
        void* mapped = Map(null, length, ProtRead | ProtWrite, MapShared, socket, 0);
        if (mapped == (void*)-1)
        {
            failure = $"mmap of the {length}-byte ring: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            return null;
        }
        failure = null;
        return new PacketReceiveRing((byte*)mapped, length, frameSize, blockSize, blocks * framesPerBlock);
    }

    /// <summary>
    /// Take up to an emptied (<see cref="HandBack"/>) <paramref name="destination"/>'s capacity of the frames waiting, in
    /// arrival order, copied or lent; waits up to <paramref name="timeoutMilliseconds"/> in poll when none is. Returns how
    /// many were taken (0: none came).
    /// </summary>
    public int Take(int socket, FrameBatch destination, int timeoutMilliseconds)
    {
        if (TakeWaiting(destination) > 0)
            return destination.Count;
        var poll = new PollDescriptor { Descriptor = socket, Events = PollIn };
        // poll also wakes while another thread is copying out the newest frame (its slot is not yet handed back): the
        // loop then finds nothing for this thread and polls again, which lasts a copy's time.
        if (Poll(&poll, 1, timeoutMilliseconds) < 0 && Marshal.GetLastPInvokeError() != ErrorInterrupted)
            throw new System.Net.Sockets.SocketException(Marshal.GetLastPInvokeError());
        return TakeWaiting(destination);
    }

    private int TakeWaiting(FrameBatch destination)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (!destination.IsFull)
            {
                byte* slot = Slot(_next);
                ref uint status = ref *(uint*)slot;
                if ((Volatile.Read(ref status) & StatusUser) == 0)
                    break;
                var header = (FrameHeader*)slot;
                int length = (int)Math.Min(header->SnapLength, (uint)MaxFrameLength);
                if (destination.MayBorrow)
                {
                    destination.Borrow(_memory.Memory.Slice((int)(slot - _base) + header->MacOffset, length), _next);
                    _lent++;
                }
                else
                {
                    destination.Add(new ReadOnlySpan<byte>(slot + header->MacOffset, length));
                    Volatile.Write(ref status, StatusKernel); // after the copy: the kernel may overwrite the slot from here on
                }
                _next = (_next + 1) % Frames;
            }
            return destination.Count;
        }
    }

    /// <summary>
    /// Hand the slots lent to <paramref name="batch"/> (if any) back to the kernel and empty it, before each receive into it;
    /// on a disposed ring this throws, having unmapped it if no other frame is lent.
    /// </summary>
    public void HandBack(FrameBatch batch)
    {
        lock (_lock)
        {
            var slots = batch.BorrowedSlots;
            if (!_unmapped)
                foreach (int slot in slots)
                    Volatile.Write(ref *(uint*)Slot(slot), StatusKernel);
            _lent -= slots.Length;
            batch.Clear();
            if (_disposed)
            {
                UnmapWhenNoneLent();
                throw new ObjectDisposedException(nameof(PacketReceiveRing));
            }
        }
    }

    private byte* Slot(int index) => _base + (long)(index / _framesPerBlock) * _blockSize + (long)(index % _framesPerBlock) * _frameSize;

    /// <summary>
    /// Unmap the ring, under the lock so no thread is copying from it meanwhile, and later takes throw; while frames are
    /// lent, at their hand-back instead (a receiver may be reading one right now).
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            UnmapWhenNoneLent();
        }
    }

    private void UnmapWhenNoneLent()
    {
        if (_unmapped || _lent > 0)
            return;
        _unmapped = true;
        Unmap(_base, _length);
    }

    /// <summary>The mapped ring as <see cref="Memory{T}"/>, made once, so lending a frame allocates nothing.</summary>
    private sealed class MappedMemory(byte* pointer, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(pointer, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }

    /// <summary><c>struct tpacket_req</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RingRequest
    {
        public uint BlockSize;
        public uint BlockCount;
        public uint FrameSize;
        public uint FrameCount;
    }

    /// <summary>The start of <c>struct tpacket2_hdr</c>: status, wire length, captured length, offset of the frame.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct FrameHeader
    {
        public uint Status;
        public uint Length;
        public uint SnapLength;
        public ushort MacOffset;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }

    [DllImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static extern int SetOption(int socket, int level, int name, void* value, uint length);

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Map(void* address, nuint length, int protection, int flags, int descriptor, long offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static extern int Unmap(void* address, nuint length);

    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern int Poll(PollDescriptor* descriptors, nuint count, int timeoutMilliseconds);
}
