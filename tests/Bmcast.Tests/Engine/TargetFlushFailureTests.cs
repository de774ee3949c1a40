using Bmcast.Core.Blocks;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Commits around a flush of the target that fails or races with writes (DESIGN §4 rules 2 and 4):
/// after a failed flush nothing written before it is trusted, and the guest hears of it.
/// </summary>
public sealed class TargetFlushFailureTests
{
    private const int BlockSize = 4096;
    private const int ChunkSize = 16384;
    private static readonly DiskGeometry Geometry = new(4 * ChunkSize, BlockSize, ChunkSize);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_write_landing_during_the_targets_flush_waits_for_the_next_commit()
    {
        var rig = await Rig.StartAsync();
        // A block present before the commit, so the commit writes the page both blocks share.
        await rig.Disk.WriteAsync(0, new byte[BlockSize], false, Ct);
        rig.Target.AfterFlush = () => rig.Disk.WriteAsync(ChunkSize, new byte[BlockSize], false, Ct).AsTask();
        await rig.Disk.CommitAsync(Ct);
        rig.Target.AfterFlush = null;

        Assert.True(rig.Disk.Presence.IsPresent(ChunkSize / BlockSize));
        var persisted = await rig.PersistedAsync();
        Assert.True(persisted.IsPresent(0));
        Assert.False(persisted.IsPresent(ChunkSize / BlockSize));
        await rig.Disk.CommitAsync(Ct);
        Assert.True((await rig.PersistedAsync()).IsPresent(ChunkSize / BlockSize));
    }

    [Fact]
    public async Task Blocks_filled_before_a_failed_flush_are_taken_back_and_fetched_again()
    {
        var rig = await Rig.StartAsync();
        await rig.Disk.EnsureChunkAsync(0, FetchPriority.Background, Ct);
        rig.Target.AfterFlush = () => throw new BlockDeviceException(BlockDeviceException.EIO, "flush failed");
        await Assert.ThrowsAsync<BlockDeviceException>(() => rig.Disk.CommitAsync(Ct));
        rig.Target.AfterFlush = null;

        Assert.False(rig.Disk.IsChunkPresent(0));
        Assert.Equal(0, rig.Disk.Presence.PresentCount);
        int reads = rig.Source.ReadCount;
        await rig.Disk.EnsureChunkAsync(0, FetchPriority.Background, Ct);
        Assert.Equal(reads + 1, rig.Source.ReadCount);
        await rig.Disk.CommitAsync(Ct);
        Assert.True((await rig.PersistedAsync()).AllPresent(0, ChunkSize / BlockSize));
    }

    [Fact]
    public async Task A_failed_periodic_commit_fails_the_guests_next_flush_once()
    {
        var rig = await Rig.StartAsync();
        await rig.Disk.WriteAsync(0, new byte[BlockSize], false, Ct);
        rig.Target.AfterFlush = () => throw new BlockDeviceException(BlockDeviceException.EIO, "flush failed");
        await Assert.ThrowsAsync<BlockDeviceException>(() => rig.Disk.CommitAsync(Ct));
        rig.Target.AfterFlush = null;

        // The target's flush works again, but the guest's write before the failure may be gone: its flush must say so.
        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => rig.Disk.FlushAsync(Ct).AsTask());
        Assert.Equal(BlockDeviceException.EIO, error.Errno);
        await rig.Disk.FlushAsync(Ct);
    }

    /// <summary>A streaming disk on in-memory devices, its target's flush scripted by the test.</summary>
    private sealed record Rig(StreamingDisk Disk, HookedDevice Target, CrashableDevice StateDevice, FaultyMemorySource Source)
    {
        private static readonly byte[] Identity = new byte[PresenceStateFile.IdentitySize];

        public static async Task<Rig> StartAsync()
        {
            var image = new byte[Geometry.Size];
            new Random(3).NextBytes(image);
            var source = new FaultyMemorySource(image, 3);
            var target = new HookedDevice(new CrashableDevice(Geometry.Size));
            var stateDevice = new CrashableDevice(PresenceStateFile.SizeFor(Geometry));
            var state = await PresenceStateFile.CreateAsync(stateDevice, Geometry, Identity, Ct);
            var disk = new StreamingDisk(Geometry, source, null, target, state, new StreamingOptions(), NullLogger.Instance);
            return new Rig(disk, target, stateDevice, source);
        }

        /// <summary>The presence map as persisted, as a restart would load it.</summary>
        public async Task<Bmcast.Core.Presence.PresenceMap> PersistedAsync() =>
            (await PresenceStateFile.LoadAsync(StateDevice, Geometry, Identity, Ct)).Map;
    }

    /// <summary>Runs <see cref="AfterFlush"/> once the inner device's flush is done: a write racing the flush, or its failure.</summary>
    private sealed class HookedDevice(IBlockDevice inner) : ForwardingBlockDevice(inner)
    {
        public Func<Task>? AfterFlush { get; set; }

        public override async ValueTask FlushAsync(CancellationToken ct)
        {
            await Inner.FlushAsync(ct);
            if (AfterFlush is { } hook)
                await hook();
        }
    }
}
