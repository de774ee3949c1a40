using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.TestKit.Images;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// A state file whose bitmap was damaged while the agent was down (issue 15: bytes set to 0xFF made the restarted agent
/// report "deployment complete" and serve zeros for 169 of 256 chunks): the damaged page is detected by its checksum,
/// the chunks it claims are re-verified against the manifest, and only those the target holds are kept.
/// </summary>
public sealed class StateFileDamageTests
{
    private const int ChunkSize = 65536;
    private const int Chunks = 256;
    private const int FetchedBeforeDamage = 87;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly StreamingOptions Options = new() { IdleGap = TimeSpan.Zero, CommitInterval = TimeSpan.FromMilliseconds(100) };

    [Fact(Timeout = 120_000)]
    public async Task Bitmap_bytes_set_to_ff_are_neither_complete_nor_served_as_data()
    {
        using var dir = new TempDirectory();
        var (image, manifest) = await DamagedDeploymentAsync(dir);

        await using var source = new FileImageSource(dir.File("image.raw"));
        await using var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        Assert.False(session.Disk.Presence.IsComplete);
        Assert.Equal((long)FetchedBeforeDamage * ChunkSize / 4096, session.Disk.Presence.PresentCount);

        var disk = new byte[image.Length];
        await session.Disk.ReadAsync(0, disk, Ct);
        Assert.True(image.AsSpan().SequenceEqual(disk), "the disk read back differs from the image");
        await session.RunToCompletionAsync(Ct);
        Assert.True(image.AsSpan().SequenceEqual(File.ReadAllBytes(dir.File("target"))));
    }

    [Fact(Timeout = 120_000)]
    public async Task The_repair_keeps_the_chunks_the_target_holds_and_the_next_commit_rewrites_the_page()
    {
        using var dir = new TempDirectory();
        var (_, manifest) = await DamagedDeploymentAsync(dir);
        // A chunk the state claimed but whose data on the target is wrong (say, damaged too) is not kept.
        using (var target = File.OpenHandle(dir.File("target"), FileMode.Open, FileAccess.Write))
            RandomAccess.Write(target, new byte[] { 0x5a }, 3L * ChunkSize + 100);

        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct))
        {
            var repair = session.StateRepair;
            Assert.NotNull(repair);
            Assert.Equal(1, repair.DamagedPages);
            Assert.Equal(FetchedBeforeDamage - 1, repair.ChunksKept);
            Assert.Equal(Chunks - FetchedBeforeDamage + 1, repair.ChunksCleared); // every chunk the 0xFF page claims
        }

        // The repaired page was written with its checksum: the next start finds nothing damaged.
        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct))
            Assert.Null(session.StateRepair);
    }

    [Fact(Timeout = 120_000)]
    public async Task Without_a_manifest_a_damaged_page_is_cleared()
    {
        using var dir = new TempDirectory();
        await DamagedDeploymentAsync(dir, verified: false);

        await using var source = new FileImageSource(dir.File("image.raw"));
        await using var session = await StreamingSession.OpenAsync(source, null, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        Assert.Equal(0, session.Disk.Presence.PresentCount);
        Assert.Equal(Chunks, session.StateRepair!.ChunksCleared);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_state_file_of_the_previous_format_is_refused_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        await DamagedDeploymentAsync(dir);
        using (var state = File.OpenHandle(dir.File("state"), FileMode.Open, FileAccess.Write))
            RandomAccess.Write(state, new byte[] { 1, 0, 0, 0 }, 8);

        await using var source = new FileImageSource(dir.File("image.raw"));
        var error = await Assert.ThrowsAsync<InvalidDataException>(() =>
            StreamingSession.OpenAsync(source, null, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct));
        Assert.Contains("format 1", error.Message);
        Assert.Contains("remove the state file", error.Message);
    }

    [Fact(Timeout = 120_000)]
    public async Task Damage_to_the_newest_commit_alone_falls_back_to_the_one_before_and_says_so()
    {
        using var dir = new TempDirectory();
        var (_, manifest) = await TwoCommitsAsync(dir);
        DamageSlot(dir.File("state"), newest: true);

        await using var source = new FileImageSource(dir.File("image.raw"));
        await using var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        // The commit before claims less, never more: the state-damage campaign found the writes of the lost commit
        // fetched over without a word; the agent now reports it.
        Assert.Equal((long)FetchedBeforeDamage * ChunkSize / 4096, session.Disk.Presence.PresentCount);
        Assert.Equal(1, session.StateRepair?.RolledBackPages);
        Assert.Equal(0, session.StateRepair?.DamagedPages);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_commit_cut_short_before_its_table_entry_is_not_reported()
    {
        using var dir = new TempDirectory();
        var (_, manifest) = await TwoCommitsAsync(dir);
        // What a power cut between a commit's slot write and its table write leaves: the older slot rewritten, its entry old.
        DamageSlot(dir.File("state"), newest: false);

        await using var source = new FileImageSource(dir.File("image.raw"));
        await using var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        Assert.Equal((long)(FetchedBeforeDamage + SecondCommit) * ChunkSize / 4096, session.Disk.Presence.PresentCount);
        Assert.Null(session.StateRepair);
    }

    private const int SecondCommit = 10;

    /// <summary>A deployment that committed twice: <see cref="FetchedBeforeDamage"/> chunks, then <see cref="SecondCommit"/> more.</summary>
    private static async Task<(byte[] Image, Manifest Manifest)> TwoCommitsAsync(TempDirectory dir)
    {
        var image = new byte[Chunks * ChunkSize];
        new Random(16).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, Ct);
        var manifest = ManifestOf(image);
        await using var source = new FileImageSource(dir.File("image.raw"));
        await using var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        await session.Disk.ReadAsync(0, new byte[FetchedBeforeDamage * ChunkSize], Ct);
        await session.Disk.FlushAsync(Ct);
        await session.Disk.ReadAsync((long)FetchedBeforeDamage * ChunkSize, new byte[SecondCommit * ChunkSize], Ct);
        await session.Disk.FlushAsync(Ct);
        return (image, manifest);
    }

    /// <summary>
    /// Change one bitmap byte of the slot of the newest (or the older) commit of the only page: the table (one page after
    /// the header) holds per slot a u64 sequence and a u64 checksum; slot 0 and slot 1 follow it.
    /// </summary>
    private static void DamageSlot(string path, bool newest)
    {
        byte[] file = File.ReadAllBytes(path);
        ulong sequence0 = BitConverter.ToUInt64(file, 4096), sequence1 = BitConverter.ToUInt64(file, 4096 + 16);
        int slot = (sequence1 > sequence0) == newest ? 1 : 0;
        file[4096 * (2 + slot) + 5] ^= 0x40;
        File.WriteAllBytes(path, file);
    }

    /// <summary>
    /// Fetch the first <see cref="FetchedBeforeDamage"/> chunks of a 256-chunk image, stop, then set every byte of the
    /// state file's bitmap to 0xFF (the file ends with the bitmap: here one page, in two slots).
    /// </summary>
    private static async Task<(byte[] Image, Manifest? Manifest)> DamagedDeploymentAsync(TempDirectory dir, bool verified = true)
    {
        var image = new byte[Chunks * ChunkSize];
        new Random(15).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, Ct);
        var manifest = verified ? ManifestOf(image) : null;
        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (var session = await StreamingSession.OpenAsync(source, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct))
        {
            await session.Disk.ReadAsync(0, new byte[FetchedBeforeDamage * ChunkSize], Ct);
            await session.Disk.FlushAsync(Ct);
        }
        var geometry = new DiskGeometry(image.Length);
        using (var state = File.OpenHandle(dir.File("state"), FileMode.Open, FileAccess.Write))
            RandomAccess.Write(state, Enumerable.Repeat((byte)0xFF, 8192).ToArray(), PresenceStateFile.SizeFor(geometry) - 8192);
        return (image, manifest);
    }

    private static Manifest ManifestOf(byte[] image) => TestManifest.Of(image, ChunkSize);
}
