using Bmcast.Core.Presence;

namespace Bmcast.Tests.Engine;

public sealed class PresenceMapTests
{
    private const long BlocksPerPage = PresenceMap.PageBytes * 8L;

    [Fact]
    public void Complete_pages_give_back_their_memory_and_stay_present()
    {
        var map = new PresenceMap(3 * BlocksPerPage + 100);
        map.MarkPresent(10, 5);
        Assert.Equal(1, map.PartialPageCount);
        map.MarkPresent(0, BlocksPerPage);
        Assert.Equal(0, map.PartialPageCount);
        Assert.True(map.AllPresent(0, BlocksPerPage));
        Assert.False(map.IsPresent(BlocksPerPage));

        // The short last page is complete at its own length, not a full page's.
        map.MarkPresent(3 * BlocksPerPage, 100);
        Assert.Equal(0, map.PartialPageCount);
        Assert.Equal(BlocksPerPage + 100, map.PresentCount);
        Assert.Equal(0, map.MarkPresent(3 * BlocksPerPage + 50, 50));
    }

    [Fact]
    public void Pages_round_trip_through_their_on_disk_form_and_count_once()
    {
        var random = new Random(3);
        long blocks = 2 * BlocksPerPage + 777;
        var original = new PresenceMap(blocks);
        for (int i = 0; i < 2000; i++)
            original.MarkPresent(random.NextInt64(blocks - 64), random.Next(1, 64));
        original.MarkPresent(0, BlocksPerPage);

        var copy = new PresenceMap(blocks);
        var page = new byte[PresenceMap.PageBytes];
        foreach (int p in original.TakeDirtyPages())
        {
            original.CopyPage(p, page);
            copy.LoadPage(p, page);
            copy.LoadPage(p, page);
        }
        Assert.Equal(original.PresentCount, copy.PresentCount);
        for (long b = 0; b < blocks; b++)
            Assert.Equal(original.IsPresent(b), copy.IsPresent(b));
        Assert.Empty(original.TakeDirtyPages());
    }

    [Fact]
    public void Concurrent_marking_counts_every_block_exactly_once()
    {
        long blocks = 4 * BlocksPerPage;
        var map = new PresenceMap(blocks);
        Parallel.For(0, 8, worker =>
        {
            var random = new Random(worker);
            for (int i = 0; i < 20000; i++)
                map.MarkPresent(random.NextInt64(blocks - 100), random.Next(1, 100));
            map.MarkPresent(0, blocks);
        });
        Assert.True(map.IsComplete);
        Assert.Equal(0, map.PartialPageCount);
    }

    [Fact]
    public void Restoring_a_page_takes_bits_back_even_from_a_complete_page()
    {
        long blocks = 2 * BlocksPerPage - 10;
        var map = new PresenceMap(blocks);
        map.MarkPresent(5, 7);
        var before = new byte[PresenceMap.PageBytes];
        map.CopyPage(0, before);
        var lastPage = new byte[PresenceMap.PageBytes];
        map.CopyPage(1, lastPage);
        map.MarkPresent(0, blocks);
        map.TakeDirtyPages();

        map.RestorePage(0, before);
        map.RestorePage(1, lastPage);

        Assert.Equal(7, map.PresentCount);
        Assert.True(map.AllPresent(5, 7));
        Assert.False(map.IsPresent(4) || map.IsPresent(12) || map.IsPresent(blocks - 1));
        Assert.Equal([0, 1], map.TakeDirtyPages());
        // Marking works as before on restored pages, up to complete again.
        map.MarkPresent(0, blocks);
        Assert.True(map.IsComplete);
    }
}
