using System.Buffers.Binary;
using Bmcast.Core.Blocks;
using Bmcast.Core.Presence;
using Bmcast.Engine;

namespace Bmcast.Chaos.StateDamage;

/// <summary>
/// Where the regions of a state file (format 2, <see cref="PresenceStateFile"/>) lie, as an attacker who read the
/// format's description would find them: the header page, the slot table (per bitmap page, per slot: u64 sequence,
/// u64 checksum), slot 0 of every page, slot 1 of every page. Checked against the product's own size at creation, so a
/// change of format shows up as an error here rather than as damage aimed at the wrong bytes.
/// </summary>
public sealed class StateFileLayout
{
    /// <summary>Every region is made of pages of this size: the header, the table, each slot.</summary>
    public const int PageBytes = PresenceMap.PageBytes;
    private const int EntryBytes = 32;

    private StateFileLayout(DiskGeometry geometry)
    {
        Geometry = geometry;
        Pages = new PresenceMap(geometry.BlockCount).PageCount;
        TablePages = (Pages * EntryBytes + PageBytes - 1) / PageBytes;
        Size = PageBytes + (long)(TablePages + 2 * Pages) * PageBytes;
        if (Size != PresenceStateFile.SizeFor(geometry))
            throw new InvalidOperationException($"state file layout out of step with the product: {Size} bytes here, {PresenceStateFile.SizeFor(geometry)} there");
    }

    public static StateFileLayout For(long imageSize) => new(new DiskGeometry(imageSize));

    public DiskGeometry Geometry { get; }

    public int Pages { get; }

    public int TablePages { get; }

    public long Size { get; }

    public long TableStart => PageBytes;

    public long TableBytes => (long)TablePages * PageBytes;

    /// <summary>Bytes of the table that hold entries (the rest of its last page is padding nobody reads).</summary>
    public int TableEntryBytes => Pages * EntryBytes;

    /// <summary>Bytes of a bitmap page that hold blocks of the disk (the rest is padding).</summary>
    public int BitmapBytes(int page) => (int)Math.Min(PageBytes, (Geometry.BlockCount - (long)page * PageBytes * 8 + 7) / 8);

    public long Slot(int page, int slot) => PageBytes + (long)(TablePages + slot * Pages + page) * PageBytes;

    public long TableEntry(int page, int slot) => PageBytes + (long)(page / (PageBytes / EntryBytes)) * PageBytes + page % (PageBytes / EntryBytes) * EntryBytes + slot * 16;

    /// <summary>The slot of <paramref name="page"/> whose table entry claims the newer commit.</summary>
    public int NewestSlot(byte[] file, int page) =>
        Sequence(file, page, 1) > Sequence(file, page, 0) ? 1 : 0;

    public ulong Sequence(byte[] file, int page, int slot) =>
        BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan((int)TableEntry(page, slot)));
}
