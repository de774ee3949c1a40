using Bmcast.Core.Blocks;
using Bmcast.Engine;
using Bmcast.Engine.Tracing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

public sealed class BootProfileTests
{
    [Fact]
    public async Task Profiled_chunks_are_prefetched_while_the_guest_is_busy_and_the_rest_waits()
    {
        var ct = TestContext.Current.CancellationToken;
        var geometry = new DiskGeometry(8 * 65536);
        var image = new byte[geometry.Size];
        new Random(1).NextBytes(image);
        var options = new StreamingOptions { IdleGap = TimeSpan.FromHours(1) };
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(geometry)), geometry, new byte[32], ct);
        var disk = new StreamingDisk(geometry, new FaultyMemorySource(image, 1), null, new CrashableDevice(geometry.Size), state, options, NullLogger.Instance);
        disk.Activity.NoteIo(); // the guest is busy for the next hour, as far as moderation can tell

        // Repeats and chunks beyond the disk (it has 8) are dropped from the order.
        var copier = new BackgroundCopier(disk, new BackgroundModerator(disk.Activity, options), options, NullLogger.Instance) { PreferredOrder = [5, 2, 5, 8, -1] };
        Assert.Equal([5L, 2L], copier.PreferredOrder);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = copier.RunAsync(stop.Token);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(disk.IsChunkPresent(5) && disk.IsChunkPresent(2)) && DateTime.UtcNow < deadline)
            await Task.Delay(10, ct);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        Assert.True(disk.IsChunkPresent(5) && disk.IsChunkPresent(2), "profiled chunks were not prefetched");
        Assert.False(disk.IsChunkPresent(0) || disk.IsChunkPresent(7), "unprofiled chunks were copied while the guest was busy");
    }

    [Fact]
    public async Task A_profile_set_while_the_copy_runs_is_taken_for_the_chunks_still_absent()
    {
        var ct = TestContext.Current.CancellationToken;
        var geometry = new DiskGeometry(64 * 65536);
        var image = new byte[geometry.Size];
        new Random(2).NextBytes(image);
        var options = new StreamingOptions { IdleGap = TimeSpan.FromHours(1), BackgroundParallelism = 1 };
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(geometry)), geometry, new byte[32], ct);
        var disk = new StreamingDisk(geometry, new FaultyMemorySource(image, 1), null, new CrashableDevice(geometry.Size), state, options, NullLogger.Instance);
        disk.Activity.NoteIo(); // a busy guest: only profiled chunks may be copied
        var copier = new BackgroundCopier(disk, new BackgroundModerator(disk.Activity, options), options, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = copier.RunAsync(stop.Token); // no profile yet: it waits for the guest to go idle before chunk 0

        copier.PreferredOrder = [40, 9];
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(disk.IsChunkPresent(40) && disk.IsChunkPresent(9)) && DateTime.UtcNow < deadline)
            await Task.Delay(10, ct);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        Assert.True(disk.IsChunkPresent(40) && disk.IsChunkPresent(9), "the profile set during the copy was not taken up");
        Assert.False(disk.IsChunkPresent(0), "an unprofiled chunk was copied while the guest was busy");
    }

    [Fact]
    public async Task On_demand_fetches_are_recorded_once_in_first_touch_order()
    {
        var ct = TestContext.Current.CancellationToken;
        var geometry = new DiskGeometry(4 * 65536);
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(geometry)), geometry, new byte[32], ct);
        var disk = new StreamingDisk(geometry, new FaultyMemorySource(new byte[geometry.Size], 1), null, new CrashableDevice(geometry.Size),
            state, new StreamingOptions(), NullLogger.Instance);
        foreach (long offset in new long[] { 3 * 65536, 65536, 3 * 65536 + 100, 0 })
            await disk.ReadAsync(offset, new byte[512], ct);
        Assert.Equal([3L, 1L, 0L], disk.OnDemandOrder.Snapshot());
        Assert.Equal([3L, 1L], BootProfile.Parse("# bmcast boot profile v1\n3\n1\n", 4));
        Assert.Throws<InvalidDataException>(() => BootProfile.Parse("# bmcast boot profile v1\n3\n9\n", 4));
        Assert.Throws<InvalidDataException>(() => BootProfile.Parse("3\n1\n", 4));
    }

    [Fact]
    public void A_profile_from_a_boot_trace_holds_every_chunk_read_in_first_read_order_but_those_that_cost_nothing()
    {
        var geometry = new DiskGeometry(8 * 65536);
        // Chunk 5 read first; a read across chunks 1 and 2; a write to 7 (not a read); a read of 4, all zero; 1 again; 0.
        var trace = IoTrace.Parse("# bmcast boot trace v1\n0 10 R 327680 4096\n20 10 R 126976 8192\n40 10 W 458752 4096\n"
            + "60 10 R 262144 512\n80 10 R 65536 512\n90 10 R 0 4096\nready 100\n", geometry.Size);
        Assert.Equal([5L, 1L, 2L, 0L], BootProfile.OfReads(trace, geometry, chunk => chunk == 4));
    }
}
