using System.Numerics;

namespace Bmcast.Core.Presence;

/// <summary>
/// Which blocks of the target disk already hold their final content. One bit a block; bits only
/// ever go from absent to present, which is what makes persisting the map simple: any mix of old
/// and new on-disk pages is a state the map has really been in (see <c>PresenceStateFile</c>).
///
/// Setting bits is lock-free and safe from any thread. Each page of the bitmap (the unit written
/// to disk) has a dirty flag so a commit writes only what changed.
/// </summary>
public sealed class PresenceMap
{
    /// <summary>Bytes of bitmap written to disk as one unit.</summary>
    public const int PageBytes = 4096;
    private const int WordsPerPage = PageBytes / sizeof(ulong);

    private readonly ulong[] _words;
    private readonly int[] _dirtyPages;
    private long _presentCount;

    public PresenceMap(long blockCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockCount);
        BlockCount = blockCount;
        PageCount = (int)((blockCount + PageBytes * 8L - 1) / (PageBytes * 8L));
        _words = new ulong[(long)PageCount * WordsPerPage];
        _dirtyPages = new int[PageCount];
    }

    public long BlockCount { get; }

    /// <summary>Number of <see cref="PageBytes"/>-byte pages the bitmap occupies.</summary>
    public int PageCount { get; }

    public long PresentCount => Volatile.Read(ref _presentCount);

    public bool IsComplete => PresentCount == BlockCount;

    public bool IsPresent(long block) => (Volatile.Read(ref _words[block >> 6]) & Bit(block)) != 0;

    /// <summary>True when every block in [first, first + count) is present.</summary>
    public bool AllPresent(long first, long count)
    {
        for (long block = first, end = first + count; block < end;)
        {
            long word = block >> 6;
            int from = (int)(block & 63);
            int to = (int)Math.Min(64, from + (end - block));
            ulong mask = RangeMask(from, to);
            if ((Volatile.Read(ref _words[word]) & mask) != mask)
                return false;
            block += to - from;
        }
        return true;
    }

    /// <summary>Length of the run of blocks starting at <paramref name="first"/> (at most <paramref name="limit"/>) whose presence equals <paramref name="present"/>.</summary>
    public long RunLength(long first, long limit, bool present)
    {
        long n = 0;
        while (n < limit && IsPresent(first + n) == present)
            n++;
        return n;
    }

    /// <summary>Mark [first, first + count) present. Returns how many were newly set.</summary>
    public long MarkPresent(long first, long count)
    {
        long newlySet = 0;
        for (long block = first, end = first + count; block < end;)
        {
            long word = block >> 6;
            int from = (int)(block & 63);
            int to = (int)Math.Min(64, from + (end - block));
            ulong mask = RangeMask(from, to);
            ulong before = Interlocked.Or(ref _words[word], mask);
            ulong added = mask & ~before;
            if (added != 0)
            {
                newlySet += BitOperations.PopCount(added);
                Volatile.Write(ref _dirtyPages[word / WordsPerPage], 1);
            }
            block += to - from;
        }
        if (newlySet != 0)
            Interlocked.Add(ref _presentCount, newlySet);
        return newlySet;
    }

    /// <summary>
    /// Indexes of the pages changed since they were last taken, clearing their dirty flags. A page
    /// dirtied again meanwhile stays dirty for the next call, so no update is ever skipped; a caller
    /// that fails to persist a page must hand it back with <see cref="MarkPageDirty"/>.
    /// </summary>
    public List<int> TakeDirtyPages()
    {
        var pages = new List<int>();
        for (int p = 0; p < PageCount; p++)
            if (Volatile.Read(ref _dirtyPages[p]) != 0 && Interlocked.Exchange(ref _dirtyPages[p], 0) != 0)
                pages.Add(p);
        return pages;
    }

    public void MarkPageDirty(int page) => Volatile.Write(ref _dirtyPages[page], 1);

    /// <summary>Mark every page dirty, e.g. before writing a fresh state file.</summary>
    public void MarkAllPagesDirty() => _dirtyPages.AsSpan().Fill(1);

    /// <summary>Load page <paramref name="page"/> from its on-disk form (bits past <see cref="BlockCount"/> are ignored).</summary>
    public void LoadPage(int page, ReadOnlySpan<byte> bytes)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes[..PageBytes]);
        int baseWord = page * WordsPerPage;
        for (int i = 0; i < WordsPerPage; i++)
        {
            long firstBlock = (long)(baseWord + i) * 64;
            if (firstBlock >= BlockCount)
                break;
            ulong valid = BlockCount - firstBlock >= 64 ? ulong.MaxValue : (1UL << (int)(BlockCount - firstBlock)) - 1;
            ulong before = _words[baseWord + i];
            ulong after = before | (words[i] & valid);
            _words[baseWord + i] = after;
            _presentCount += BitOperations.PopCount(after & ~before);
        }
    }

    /// <summary>The on-disk form of page <paramref name="page"/>.</summary>
    public void CopyPage(int page, Span<byte> destination)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(destination);
        for (int i = 0; i < WordsPerPage; i++)
            words[i] = Volatile.Read(ref _words[page * WordsPerPage + i]);
    }

    private static ulong Bit(long block) => 1UL << (int)(block & 63);

    private static ulong RangeMask(int from, int to) =>
        (to == 64 ? ulong.MaxValue : (1UL << to) - 1) & ~((1UL << from) - 1);
}
