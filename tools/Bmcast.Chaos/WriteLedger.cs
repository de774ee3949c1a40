using System.Buffers.Binary;

namespace Bmcast.Chaos;

/// <summary>
/// What a guest's writes oblige the disk to keep, block by block (DESIGN §4 rule 4). Each written
/// block carries its write's number and block index and a pattern derived from both, so its content
/// can be recognised later. Per block the ledger holds the write that must survive (the last one
/// covered by an acknowledged FLUSH or FUA; 0 = the image's own bytes) and the later writes that may
/// or may not have reached the disk when the power went.
/// </summary>
public sealed class WriteLedger
{
    public const int BlockSize = 4096;
    private const long Image = 0;
    private readonly Dictionary<long, Entry> _blocks = [];
    private long _lastWrite;

    /// <summary>Blocks the guest has written at least once.</summary>
    public IReadOnlyCollection<long> Blocks => _blocks.Keys;

    /// <summary>A number for the next write, never reused.</summary>
    public long NextWrite() => ++_lastWrite;

    /// <summary>A write of <paramref name="write"/> to <paramref name="block"/> is about to be sent: from now on it may be on disk.</summary>
    public void Sent(long block, long write) => EntryOf(block).Undecided.Add(write);

    /// <summary>A FUA write was acknowledged: it must survive.</summary>
    public void Durable(long block, long write)
    {
        var entry = EntryOf(block);
        entry.Survivor = write;
        entry.Undecided.Clear();
    }

    /// <summary>
    /// The write <paramref name="write"/> to <paramref name="block"/> failed with an error reply: it may or
    /// may not be on disk, and no flush decides it; only a later acknowledged write to the block does.
    /// </summary>
    public void Refused(long block, long write) => EntryOf(block).Refused.Add(write);

    /// <summary>
    /// A FLUSH was acknowledged. The writer sends one request at a time, so every write sent before the
    /// flush was answered before it: the last acknowledged one to each block must survive, unless a
    /// refused write after it landed anyway.
    /// </summary>
    public void Flushed()
    {
        foreach (var entry in _blocks.Values)
        {
            int last = entry.Undecided.FindLastIndex(write => !entry.Refused.Contains(write));
            if (last < 0)
                continue;
            entry.Survivor = entry.Undecided[last];
            entry.Undecided.RemoveRange(0, last + 1);
        }
    }

    /// <summary>
    /// Judge what <paramref name="block"/> holds against what it may hold. Returns the write found
    /// (0 for the image's bytes) and whether the disk was allowed to hold it.
    /// </summary>
    public BlockVerdict Judge(long block, ReadOnlySpan<byte> actual, ReadOnlySpan<byte> imageBlock)
    {
        long? found = Identify(block, actual, imageBlock);
        if (found is not { } write)
            return BlockVerdict.Unrecognised;
        if (!_blocks.TryGetValue(block, out var entry))
            return write == Image ? BlockVerdict.Kept(write) : BlockVerdict.Lost(write, Image);
        return write == entry.Survivor || entry.Undecided.Contains(write) ? BlockVerdict.Kept(write) : BlockVerdict.Lost(write, entry.Survivor);
    }

    /// <summary>The disk was read back and flushed: what it holds now is what must survive.</summary>
    public void Settle(long block, long write)
    {
        var entry = EntryOf(block);
        entry.Survivor = write;
        entry.Undecided.Clear();
    }

    /// <summary>The content of block <paramref name="block"/> as written by write <paramref name="write"/>.</summary>
    public static void Fill(Span<byte> destination, long block, long write)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, write);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], block);
        ulong state = (ulong)write * 0x9E3779B97F4A7C15UL ^ (ulong)block;
        for (int i = 16; i + 8 <= destination.Length; i += 8)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(destination[i..], state);
        }
    }

    private static long? Identify(long block, ReadOnlySpan<byte> actual, ReadOnlySpan<byte> imageBlock)
    {
        if (actual.SequenceEqual(imageBlock))
            return Image;
        long write = BinaryPrimitives.ReadInt64LittleEndian(actual);
        if (write <= 0)
            return null;
        Span<byte> expected = stackalloc byte[BlockSize];
        Fill(expected, block, write);
        return actual.SequenceEqual(expected[..actual.Length]) ? write : null;
    }

    private Entry EntryOf(long block)
    {
        if (!_blocks.TryGetValue(block, out var entry))
            _blocks[block] = entry = new Entry();
        return entry;
    }

    private sealed class Entry
    {
        public long Survivor = Image;
        public readonly List<long> Undecided = [];
        public readonly HashSet<long> Refused = [];
    }
}
