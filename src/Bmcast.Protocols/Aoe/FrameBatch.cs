using System.Runtime.InteropServices;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Up to <see cref="Capacity"/> frames moved by one batched receive or send (recvmmsg/sendmmsg): fixed-size
/// buffers in one pinned array, with the kernel's message headers pointing at them built once, so nothing is
/// allocated or pinned per frame. A batch that <see cref="MayBorrow"/> may instead be filled with frames lent in place
/// by a receive ring, valid until the next receive into it.
/// </summary>
public sealed unsafe class FrameBatch
{
    private readonly byte[] _data;
    private readonly int[] _lengths;
    private readonly MessageHeader[] _headers;
    private readonly IoVector[] _vectors;
    private readonly Memory<byte>[]? _borrowed;
    private readonly int[]? _borrowedSlots;
    private bool _isBorrowed;

    /// <param name="mayBorrow">
    /// The batch has one receiving thread, which is done with its frames when it receives into it again: a receive ring may
    /// then lend it frames where they lie instead of copying them.
    /// </param>
    public FrameBatch(int capacity, int frameSize, bool mayBorrow = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameSize, 1);
        Capacity = capacity;
        FrameSize = frameSize;
        _data = GC.AllocateUninitializedArray<byte>(capacity * frameSize, pinned: true);
        _lengths = new int[capacity];
        _headers = GC.AllocateArray<MessageHeader>(capacity, pinned: true);
        _vectors = GC.AllocateArray<IoVector>(capacity, pinned: true);
        if (mayBorrow)
        {
            _borrowed = new Memory<byte>[capacity];
            _borrowedSlots = new int[capacity];
        }
        fixed (byte* data = _data)
        fixed (IoVector* vectors = _vectors)
        {
            for (int i = 0; i < capacity; i++)
            {
                _vectors[i].Base = data + i * frameSize;
                _headers[i].Vectors = vectors + i;
                _headers[i].VectorCount = 1;
            }
        }
    }

    public int Capacity { get; }

    /// <summary>Bytes each buffer holds; a longer received frame is truncated to this.</summary>
    public int FrameSize { get; }

    /// <summary>Frames in the batch: set by a receive, grown by <see cref="Add"/> before a send.</summary>
    public int Count { get; private set; }

    public bool IsFull => Count == Capacity;

    public bool MayBorrow => _borrowed is not null;

    /// <summary>Frame <paramref name="index"/> as received, lent or added.</summary>
    public Memory<byte> Frame(int index) => _isBorrowed ? _borrowed![index] : _data.AsMemory(index * FrameSize, _lengths[index]);

    /// <summary>The whole buffer of the next frame, to write a frame into before <see cref="Add"/>.</summary>
    public Memory<byte> Next()
    {
        if (_isBorrowed)
            throw new InvalidOperationException("a batch of lent frames takes no others");
        if (IsFull)
            throw new InvalidOperationException("frame batch is full");
        return _data.AsMemory(Count * FrameSize, FrameSize);
    }

    /// <summary>Append the frame just written into <see cref="Next"/>.</summary>
    public void Add(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)FrameSize, nameof(length));
        _lengths[Count++] = length;
    }

    /// <summary>Append a copy of <paramref name="frame"/> (truncated to <see cref="FrameSize"/>).</summary>
    public void Add(ReadOnlySpan<byte> frame)
    {
        int length = Math.Min(frame.Length, FrameSize);
        frame[..length].CopyTo(Next().Span);
        Add(length);
    }

    public void Clear()
    {
        Count = 0;
        _isBorrowed = false;
    }

    /// <summary>The frames are lent, from these slots of the lender's ring, until they are handed back.</summary>
    internal ReadOnlySpan<int> BorrowedSlots => _isBorrowed ? _borrowedSlots.AsSpan(0, Count) : [];

    /// <summary>Append a frame lent in place from the lender's slot <paramref name="slot"/>; only into an empty or borrowed batch.</summary>
    internal void Borrow(Memory<byte> frame, int slot)
    {
        if (_borrowed is null || (Count > 0 && !_isBorrowed) || IsFull)
            throw new InvalidOperationException("this batch cannot borrow another frame");
        _isBorrowed = true;
        _borrowed[Count] = frame;
        _borrowedSlots![Count++] = slot;
    }

    /// <summary>Headers for receiving into every buffer; the array is pinned, so the pointer stays valid.</summary>
    internal MessageHeader* PrepareReceive()
    {
        for (int i = 0; i < Capacity; i++)
            _vectors[i].Length = (nuint)FrameSize;
        return (MessageHeader*)Marshal.UnsafeAddrOfPinnedArrayElement(_headers, 0);
    }

    /// <summary>Record what a receive of <paramref name="count"/> messages filled in.</summary>
    internal void Received(int count)
    {
        for (int i = 0; i < count; i++)
            _lengths[i] = (int)Math.Min(_headers[i].Length, (uint)FrameSize);
        Count = count;
    }

    /// <summary>Headers for sending the frames from <paramref name="first"/> on.</summary>
    internal MessageHeader* PrepareSend(int first)
    {
        for (int i = first; i < Count; i++)
            _vectors[i].Length = (nuint)_lengths[i];
        return (MessageHeader*)Marshal.UnsafeAddrOfPinnedArrayElement(_headers, first);
    }

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>
    /// <c>struct mmsghdr</c> on LP64 Linux: a 56-byte <c>struct msghdr</c> (no address, no control data, so
    /// only the vector fields are set) and the byte count the kernel fills in.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    internal struct MessageHeader
    {
        [FieldOffset(16)] public IoVector* Vectors;
        [FieldOffset(24)] public nuint VectorCount;
        [FieldOffset(56)] public uint Length;
    }
}
