using System.Buffers.Binary;
using System.Security.Cryptography;
using Bmcast.Core.Presence;

namespace Bmcast.Engine;

/// <summary>
/// Where each bitmap page of a state file lives and how it is checked. Every page has two slots; a commit writes a
/// page into the slot that does not hold its last good content, with a higher sequence number, and records the
/// slot's sequence number and checksum in the table. Loading takes, per page, the slot with the highest sequence
/// number whose checksum matches: a crash, a torn or failed write leaves the other slot intact, so the page is never
/// older than its last completed commit. A page whose slots both fail their checksum was damaged.
/// <code>
///   table, per page, 32 bytes: slot 0 (u64 sequence, u64 checksum), slot 1 (u64 sequence, u64 checksum), little-endian
///   checksum: first 8 bytes of SHA-256 over (u32 page, u32 slot, u64 sequence, page bytes)
/// </code>
/// A table page is rewritten whole, but the entries of pages a commit does not touch keep their values, so a torn
/// table write can spoil only the slot being written.
/// </summary>
internal sealed class StatePageSlots
{
    public const int EntrySize = 32;
    private const int EntriesPerTablePage = PresenceMap.PageBytes / EntrySize;

    private readonly ulong[][] _sequence = [null!, null!];
    private readonly ulong[][] _checksum = [null!, null!];
    // The slot of each page's last good content: a commit writes the other one, also after a failed commit into it.
    private readonly byte[] _good;

    public StatePageSlots(int pageCount)
    {
        PageCount = pageCount;
        for (int slot = 0; slot < 2; slot++)
        {
            _sequence[slot] = new ulong[pageCount];
            _checksum[slot] = new ulong[pageCount];
        }
        _good = new byte[pageCount];
    }

    public int PageCount { get; }

    public static int TablePagesFor(int pageCount) => (pageCount + EntriesPerTablePage - 1) / EntriesPerTablePage;

    public int TablePages => TablePagesFor(PageCount);

    /// <summary>Table, then slot 0 of every page, then slot 1 of every page, all after the header.</summary>
    public static long FileBytesFor(int pageCount) => (long)(TablePagesFor(pageCount) + 2 * pageCount) * PresenceMap.PageBytes;

    public static int TablePageOf(int page) => page / EntriesPerTablePage;

    /// <summary>Offset of <paramref name="page"/>'s <paramref name="slot"/> from the end of the header.</summary>
    public long SlotOffset(int page, int slot) => (long)(TablePages + slot * PageCount + page) * PresenceMap.PageBytes;

    /// <summary>The slot a commit writes <paramref name="page"/> to.</summary>
    public int NextSlot(int page) => 1 - _good[page];

    /// <summary>Record <paramref name="bytes"/> as the content of <paramref name="page"/>'s next slot (before writing it).</summary>
    public void Record(int page, ReadOnlySpan<byte> bytes)
    {
        int slot = NextSlot(page);
        ulong sequence = _sequence[_good[page]][page] + 1;
        _sequence[slot][page] = sequence;
        _checksum[slot][page] = Checksum(page, slot, sequence, bytes);
    }

    /// <summary>The commit that wrote <paramref name="page"/>'s next slot is durable: that slot is now the good one.</summary>
    public void Complete(int page) => _good[page] = (byte)NextSlot(page);

    /// <summary>
    /// The slot to load <paramref name="page"/> from, given both slots' bytes: the newest whose checksum matches, or -1
    /// when neither does. The page's good slot is set to it.
    /// </summary>
    public int Choose(int page, ReadOnlySpan<byte> slot0, ReadOnlySpan<byte> slot1)
    {
        int chosen = -1;
        for (int slot = 0; slot < 2; slot++)
        {
            if (Checksum(page, slot, _sequence[slot][page], slot == 0 ? slot0 : slot1) != _checksum[slot][page])
                continue;
            if (chosen < 0 || _sequence[slot][page] > _sequence[chosen][page])
                chosen = slot;
        }
        _good[page] = (byte)Math.Max(0, chosen);
        return chosen;
    }

    /// <summary>
    /// True when loading <paramref name="page"/> from <paramref name="chosen"/> may have lost a completed commit: the
    /// other slot failed its checksum, and its table entry is not that of the commit just before the chosen one. Commits
    /// alternate slots with consecutive sequence numbers, so a crash between a slot's write and its table entry's leaves
    /// the failing slot one commit older (nothing lost), and so does damage to the older slot. A failing slot that claims
    /// the next commit is a commit cut short after its table entry landed (nothing acknowledged depends on it) or the
    /// newest completed commit, damaged; any other sequence means the table itself was damaged. The file cannot tell
    /// these apart, so the loader reports them.
    /// </summary>
    public bool MayHaveLostACommit(int page, int chosen, ReadOnlySpan<byte> slot0, ReadOnlySpan<byte> slot1)
    {
        int other = 1 - chosen;
        ulong sequence = _sequence[other][page];
        if (Checksum(page, other, sequence, other == 0 ? slot0 : slot1) == _checksum[other][page])
            return false;
        return sequence + 1 != _sequence[chosen][page];
    }

    public void Encode(int tablePage, Span<byte> destination)
    {
        destination[..PresenceMap.PageBytes].Clear();
        int first = tablePage * EntriesPerTablePage;
        for (int p = first, at = 0; p < PageCount && p < first + EntriesPerTablePage; p++)
            for (int slot = 0; slot < 2; slot++, at += 16)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], _sequence[slot][p]);
                BinaryPrimitives.WriteUInt64LittleEndian(destination[(at + 8)..], _checksum[slot][p]);
            }
    }

    public void Decode(int tablePage, ReadOnlySpan<byte> source)
    {
        int first = tablePage * EntriesPerTablePage;
        for (int p = first, at = 0; p < PageCount && p < first + EntriesPerTablePage; p++)
            for (int slot = 0; slot < 2; slot++, at += 16)
            {
                _sequence[slot][p] = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]);
                _checksum[slot][p] = BinaryPrimitives.ReadUInt64LittleEndian(source[(at + 8)..]);
            }
    }

    private static ulong Checksum(int page, int slot, ulong sequence, ReadOnlySpan<byte> bytes)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> prefix = stackalloc byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, page);
        BinaryPrimitives.WriteInt32LittleEndian(prefix[4..], slot);
        BinaryPrimitives.WriteUInt64LittleEndian(prefix[8..], sequence);
        hash.AppendData(prefix);
        hash.AppendData(bytes[..PresenceMap.PageBytes]);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }
}
