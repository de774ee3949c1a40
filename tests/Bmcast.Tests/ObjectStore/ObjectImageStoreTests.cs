using Bmcast.Core.Storage;
using Bmcast.Images;
using Bmcast.Images.ObjectStore;
using Bmcast.Tests.Images;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.ObjectStore;

/// <summary>
/// The bucket store against a real Ceph RGW: an interrupted import leaves nothing visible and a rerun completes
/// sending only what is missing; a damaged object is found by verify and never served or cached by a server; removal
/// unpublishes at once while gc keeps the chunks a server may still read until the grace period has passed.
/// </summary>
public sealed class ObjectImageStoreTests(SharedCephRgw ceph) : IClassFixture<SharedCephRgw>, IDisposable
{
    private const int Chunk = 64 * 1024;
    private readonly TempDirectory _scratch = new();

    private string KeyPath => _scratch.File("keys/store.key");

    [Fact]
    public async Task An_interrupted_import_publishes_nothing_and_a_rerun_completes_without_sending_the_uploaded_packs_again()
    {
        var ct = TestContext.Current.CancellationToken;
        var (rgw, bucket) = await NewBucketAsync();
        var image = new SparseImage(_scratch.File("disk.raw"), 64 * Chunk).Data(0, 48 * Chunk);
        using var store = SharedCephRgw.Open(rgw, bucket, KeyPath);

        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var importer = new ImageImporter(store, chunksPerBatch: 8); // a pack per 8 chunks: several uploaded before the cut
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => importer.ImportAsync(image.Path, new ImportOptions("disk", Chunk, DiskImageFormat.Raw),
            p => { if (p.Phase == ImportPhase.Chunking && p.Done >= 40 * Chunk) interrupt.Cancel(); }, interrupt.Token));

        Assert.False(store.Exists("disk"));
        Assert.Empty(store.List());
        using (var other = SharedCephRgw.Open(rgw, bucket, KeyPath)) // another server on the bucket sees no image either
            Assert.Empty(other.List());

        var rerun = await new ImageImporter(store, chunksPerBatch: 8).ImportAsync(image.Path, new ImportOptions("disk", Chunk, DiskImageFormat.Raw), cancellationToken: ct);
        Assert.True(rerun.NewChunks < 48, $"the rerun stored {rerun.NewChunks} chunks again: the packs uploaded before the interruption were not reused");
        await AssertServesAsync(store, "disk", image.Content.ToArray());
        Assert.True((await new ImageVerifier(store).VerifyAsync("disk", cancellationToken: ct)).IsValid);
    }

    [Fact]
    public async Task A_damaged_pack_object_fails_verify_and_a_server_neither_serves_nor_caches_the_chunk()
    {
        var ct = TestContext.Current.CancellationToken;
        var (rgw, bucket, store, image) = await ImportedAsync(16, "disk");
        using var _ = store;

        await SharedCephRgw.CorruptChunkAsync(rgw, bucket, store, "disk", 5, ct);

        var report = await new ImageVerifier(store).VerifyAsync("disk", cancellationToken: ct);
        Assert.False(report.IsValid);
        Assert.Equal([5L], report.BadChunks.Select(b => b.Chunk));
        Assert.Equal("hash mismatch", report.BadChunks[0].Problem);

        using var server = SharedCephRgw.Open(rgw, bucket, KeyPath);
        await using var device = server.OpenImage("disk");
        var buffer = new byte[Chunk];
        for (int attempt = 0; attempt < 2; attempt++) // the second read fetches again: nothing bad was cached
        {
            var failure = await Assert.ThrowsAsync<BlockDeviceException>(() => device.ReadAsync(5L * Chunk, buffer, ct).AsTask());
            Assert.Equal(BlockDeviceException.EIO, failure.Errno);
            Assert.Contains("does not match its hash", failure.Message);
        }
        Assert.Equal(0, server.Cache.Bytes);
        await device.ReadAsync(4L * Chunk, buffer, ct); // its neighbours in the same pack are served
        Assert.Equal(image.Content.Slice(4 * Chunk, Chunk).ToArray(), buffer);
    }

    [Fact]
    public async Task Removal_unpublishes_at_once_and_gc_keeps_what_a_server_still_reads_until_the_grace_period_has_passed()
    {
        var ct = TestContext.Current.CancellationToken;
        var (rgw, bucket) = await NewBucketAsync();
        var old = new SparseImage(_scratch.File("old.raw"), 8 * Chunk, seed: 1).Data(0, 8 * Chunk);
        var kept = new SparseImage(_scratch.File("kept.raw"), 8 * Chunk, seed: 2).Data(0, 8 * Chunk);
        using var store = SharedCephRgw.Open(rgw, bucket, KeyPath);
        await ImportAsync(store, old, "old");
        await ImportAsync(store, kept, "kept");

        using var server = SharedCephRgw.Open(rgw, bucket, KeyPath, cacheBytes: Chunk); // a cache of one chunk: reads go to the bucket
        await using var serving = server.OpenImage("old");

        var removal = store.Remove("old", RemovalGrace.Default);
        Assert.False(server.Exists("old"));
        Assert.Equal(["kept"], server.List().Select(i => i.Name));
        Assert.Equal(0, removal.ChunksRemoved);
        Assert.Equal(1, removal.PacksWaiting);

        var early = store.CollectGarbage(RemovalGrace.Default);
        Assert.Equal((0L, 1), (early.ChunksRemoved, early.PacksWaiting));
        Assert.Equal(old.Content.ToArray(), await ReadAllAsync(serving)); // still served whole after rm and gc

        var late = store.CollectGarbage(TimeSpan.Zero);
        Assert.Equal((8L, 1, 0), (late.ChunksRemoved, late.PacksRemoved, late.PacksWaiting));
        await Assert.ThrowsAsync<BlockDeviceException>(() => ReadAllAsync(serving)); // deleted after the grace period
        Assert.True((await new ImageVerifier(store).VerifyAsync("kept", cancellationToken: ct)).IsValid);
        Assert.Equal(0, store.CollectGarbage(TimeSpan.Zero).ChunksRemoved); // nothing a published manifest needs
        await AssertServesAsync(store, "kept", kept.Content.ToArray());
    }

    [Fact]
    public async Task An_import_does_not_reuse_chunks_gc_has_marked_so_deleting_them_later_loses_nothing()
    {
        var (_, _, store, image) = await ImportedAsync(8, "a");
        using var _ = store;
        Assert.Equal(1, store.Remove("a", RemovalGrace.Default).PacksWaiting); // marked

        var again = await ImportAsync(store, image, "b");
        Assert.Equal(8, again.NewChunks);
        var collected = store.CollectGarbage(TimeSpan.Zero);
        Assert.Equal(1, collected.PacksRemoved);
        await AssertServesAsync(store, "b", image.Content.ToArray());
    }

    [Fact]
    public async Task A_learned_boot_profile_is_kept_once_the_first_stays_and_another_server_cannot_replace_it()
    {
        var (rgw, bucket, store, _) = await ImportedAsync(4, "disk");
        using var _ = store;
        using var other = SharedCephRgw.Open(rgw, bucket, KeyPath);

        Assert.True(store.TryWriteBootProfileOnce("disk", "0\n2\n"u8));
        Assert.False(other.TryWriteBootProfileOnce("disk", "3\n"u8));
        Assert.Equal("0\n2\n"u8.ToArray(), other.ReadBootProfile("disk"));
        Assert.Throws<ImageNotFoundException>(() => other.TryWriteBootProfileOnce("absent", "0\n"u8));
    }

    [Fact]
    public async Task A_server_opens_the_manifest_and_profile_exports_from_the_bucket_and_nothing_once_the_image_is_removed()
    {
        var ct = TestContext.Current.CancellationToken;
        var (_, _, store, _) = await ImportedAsync(4, "disk");
        using var _ = store;
        store.WriteBootProfile("disk", "1\n3\n"u8);
        var catalog = new StoreExportCatalog(store);

        Assert.Equal(store.ReadEncodedManifest("disk"), await ReadAllAsync((await catalog.OpenAsync("manifest:disk", ct))!));
        Assert.Equal("1\n3\n"u8.ToArray(), await ReadAllAsync((await catalog.OpenAsync("profile:disk", ct))!));
        foreach (string absent in new[] { "manifest:absent", "profile:absent", "manifest:../x" })
            Assert.Null(await catalog.OpenAsync(absent, ct));

        store.Remove("disk", RemovalGrace.Default);
        Assert.Null(await catalog.OpenAsync("manifest:disk", ct));
        Assert.Null(await catalog.OpenAsync("profile:disk", ct));
    }

    private async Task<(CephRgw Rgw, string Bucket)> NewBucketAsync() => (await ceph.StartAsync(), SharedCephRgw.NewBucket());

    /// <summary>A new bucket with one image of <paramref name="chunks"/> chunks of data imported as <paramref name="name"/>.</summary>
    private async Task<(CephRgw Rgw, string Bucket, ObjectImageStore Store, SparseImage Image)> ImportedAsync(int chunks, string name)
    {
        var (rgw, bucket) = await NewBucketAsync();
        var image = new SparseImage(_scratch.File(name + ".raw"), chunks * Chunk).Data(0, chunks * Chunk);
        var store = SharedCephRgw.Open(rgw, bucket, KeyPath);
        await ImportAsync(store, image, name);
        return (rgw, bucket, store, image);
    }

    private static Task<ImportResult> ImportAsync(ObjectImageStore store, SparseImage image, string name) =>
        new ImageImporter(store).ImportAsync(image.Path, new ImportOptions(name, Chunk, DiskImageFormat.Raw), cancellationToken: TestContext.Current.CancellationToken);

    private static async Task AssertServesAsync(ObjectImageStore store, string name, byte[] expected)
    {
        await using var device = store.OpenImage(name);
        Assert.Equal(expected, await ReadAllAsync(device));
    }

    private static async Task<byte[]> ReadAllAsync(IBlockDevice device)
    {
        var content = new byte[device.Size];
        await device.ReadAsync(0, content, TestContext.Current.CancellationToken);
        return content;
    }

    public void Dispose() => _scratch.Dispose();
}
