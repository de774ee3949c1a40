using System.Numerics;
using System.Runtime.InteropServices;

namespace Bmcast.Core.Presence;

/// <summary>
/// Which blocks of the target disk already hold their final content. One bit a block; bits only
/// ever go from absent to present, which is what makes persisting the map simple: any mix of old
/// and new on-disk pages is a state the map has really been in (see <c>PresenceStateFile</c>).
///
/// Memory follows the partly filled part of the disk, not its size: the bitmap is cut into 4 KiB
/// pages (the unit written to disk) that are allocated on first use, and a page whose bits are all
/// set is swapped for one shared full page. A finished or mostly-zero 1 TiB disk costs well under
/// a megabyte instead of 32 MiB.
///
/// Setting bits is lock-free and safe from any thread. Each page has a dirty flag so a commit
/// writes only what changed.
/// </summary>
public sealed class PresenceMap
{
    /// <summary>Bytes of bitmap written to disk as one unit.</summary>
    public const int PageBytes = 4096;
    private const int WordsPerPage = PageBytes / sizeof(ulong);
    private const long BlocksPerPage = PageBytes * 8L;
    private static readonly ulong[] FullPage = Enumerable.Repeat(ulong.MaxValue, WordsPerPage).ToArray();

    private readonly ulong[]?[] _pages;
    private readonly int[] _presentInPage;
    private readonly int[] _dirtyPages;
    private long _presentCount;

    public PresenceMap(long blockCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockCount);
        BlockCount = blockCount;
        PageCount = (int)((blockCount + BlocksPerPage - 1) / BlocksPerPage);
        _pages = new ulong[PageCount][];
        _presentInPage = new int[PageCount];
        _dirtyPages = new int[PageCount];
    }

    public long BlockCount { get; }

    /// <summary>Number of <see cref="PageBytes"/>-byte pages the bitmap occupies.</summary>
    public int PageCount { get; }

    public long PresentCount => Volatile.Read(ref _presentCount);

    public bool IsComplete => PresentCount == BlockCount;

    public bool IsPresent(long block) => (Word(block >> 6) & Bit(block)) != 0;

    /// <summary>True when every block in [first, first + count) is present.</summary>
    public bool AllPresent(long first, long count)
    {
        for (long block = first, end = first + count; block < end;)
        {
            int from = (int)(block & 63);
            int to = (int)Math.Min(64, from + (end - block));
            ulong mask = RangeMask(from, to);
            if ((Word(block >> 6) & mask) != mask)
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
            int from = (int)(block & 63);
            int to = (int)Math.Min(64, from + (end - block));
            newlySet += SetBits(block >> 6, RangeMask(from, to));
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

    /// <summary>Merge page <paramref name="page"/> from its on-disk form (bits past <see cref="BlockCount"/> are ignored).</summary>
    public void LoadPage(int page, ReadOnlySpan<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(bytes[..PageBytes]);
        long firstWord = (long)page * WordsPerPage;
        long loaded = 0;
        for (int i = 0; i < WordsPerPage; i++)
        {
            long firstBlock = (firstWord + i) * 64;
            if (firstBlock >= BlockCount)
                break;
            ulong valid = BlockCount - firstBlock >= 64 ? ulong.MaxValue : (1UL << (int)(BlockCount - firstBlock)) - 1;
            if ((words[i] & valid) != 0)
                loaded += SetBits(firstWord + i, words[i] & valid);
        }
        Interlocked.Add(ref _presentCount, loaded);
    }

    /// <summary>
    /// Set page <paramref name="page"/> to exactly <paramref name="bytes"/>, turning bits off as well as
    /// on, and mark it dirty. The one exception to bits only turning on: taking back blocks whose data a
    /// failed flush may have lost. The caller keeps <see cref="MarkPresent"/> away from the page meanwhile.
    /// </summary>
    public void RestorePage(int page, ReadOnlySpan<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(bytes[..PageBytes]);
        var restored = new ulong[WordsPerPage];
        long firstWord = (long)page * WordsPerPage;
        int present = 0;
        for (int i = 0; i < WordsPerPage && (firstWord + i) * 64 < BlockCount; i++)
        {
            long firstBlock = (firstWord + i) * 64;
            ulong valid = BlockCount - firstBlock >= 64 ? ulong.MaxValue : (1UL << (int)(BlockCount - firstBlock)) - 1;
            restored[i] = words[i] & valid;
            present += BitOperations.PopCount(restored[i]);
        }
        int before = Interlocked.Exchange(ref _presentInPage[page], present);
        Volatile.Write(ref _pages[page], present == BlocksInPage(page) ? FullPage : restored);
        Interlocked.Add(ref _presentCount, present - before);
        MarkPageDirty(page);
    }

    /// <summary>The on-disk form of page <paramref name="page"/>.</summary>
    public void CopyPage(int page, Span<byte> destination)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(destination[..PageBytes]);
        var source = Volatile.Read(ref _pages[page]);
        if (source is null)
        {
            words.Clear();
            return;
        }
        for (int i = 0; i < WordsPerPage; i++)
            words[i] = Volatile.Read(ref source[i]);
    }

    /// <summary>Pages holding their own memory: neither untouched nor complete (for memory accounting).</summary>
    public int PartialPageCount => _pages.Count(p => p is not null && !ReferenceEquals(p, FullPage));

    private ulong Word(long word)
    {
        var page = Volatile.Read(ref _pages[word / WordsPerPage]);
        return page is null ? 0 : Volatile.Read(ref page[word % WordsPerPage]);
    }

    /// <summary>Set <paramref name="mask"/> in word <paramref name="word"/>; returns how many bits were newly set.</summary>
    private int SetBits(long word, ulong mask)
    {
        int p = (int)(word / WordsPerPage);
        var page = Volatile.Read(ref _pages[p]);
        if (ReferenceEquals(page, FullPage))
            return 0;
        if (page is null)
            page = Interlocked.CompareExchange(ref _pages[p], new ulong[WordsPerPage], null) ?? _pages[p]!;
        if (ReferenceEquals(page, FullPage))
            return 0;
        ulong before = Interlocked.Or(ref page[word % WordsPerPage], mask);
        int added = BitOperations.PopCount(mask & ~before);
        if (added == 0)
            return 0;
        Volatile.Write(ref _dirtyPages[p], 1);
        // Once every block of the page is present its own array is no longer needed. Threads still
        // holding the old array only ever set bits that are already set in it.
        if (Interlocked.Add(ref _presentInPage[p], added) == BlocksInPage(p))
            Volatile.Write(ref _pages[p], FullPage);
        return added;
    }

    private long BlocksInPage(int page) => Math.Min(BlocksPerPage, BlockCount - page * BlocksPerPage);

    private static ulong Bit(long block) => 1UL << (int)(block & 63);

    private static ulong RangeMask(int from, int to) =>
        (to == 64 ? ulong.MaxValue : (1UL << to) - 1) & ~((1UL << from) - 1);
}
