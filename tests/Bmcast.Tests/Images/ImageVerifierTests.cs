using Bmcast.Images;
using Bmcast.Images.Packs;
using Xunit;

namespace Bmcast.Tests.Images;

public sealed class ImageVerifierTests : IDisposable
{
    private const int Chunk = 4096;
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<Bmcast.Core.Manifests.Manifest> ImportAsync()
    {
        var image = new SparseImage(_temp.PathFor("a.raw"), 16 * Chunk).Data(0, 4 * Chunk).Data(10 * Chunk, 6 * Chunk);
        await _temp.ImportAsync(image.Path, "a", Chunk);
        return _temp.Store.ReadManifest("a");
    }

    private Task<VerifyReport> VerifyAsync() =>
        new ImageVerifier(_temp.Store).VerifyAsync("a", cancellationToken: TestContext.Current.CancellationToken);

    [Fact]
    public async Task An_intact_image_verifies()
    {
        await ImportAsync();
        var report = await VerifyAsync();
        Assert.True(report.IsValid);
        Assert.Equal(10, report.ChunksChecked);
    }

    [Fact]
    public async Task A_flipped_byte_in_a_stored_chunk_is_found_and_named()
    {
        var manifest = await ImportAsync();
        var stored = StoreSurgery.FlipByte(_temp.Store, manifest.ChunkHash(11), 1234);

        var report = await VerifyAsync();

        Assert.False(report.IsValid);
        var bad = Assert.Single(report.BadChunks);
        Assert.Equal(11, bad.Chunk);
        Assert.Equal(11L * Chunk, bad.Offset);
        Assert.Equal((stored.Path, stored.Offset), (bad.Path, bad.FileOffset));
        Assert.Equal("hash mismatch", bad.Problem);
    }

    [Fact]
    public async Task Missing_and_wrongly_sized_chunks_are_reported()
    {
        var manifest = await ImportAsync();
        var lost = ChunkKey.From(manifest.ChunkHash(0));
        var shrunk = ChunkKey.From(manifest.ChunkHash(15));
        StoreSurgery.RewriteIndexes(_temp.Store, entry =>
            entry.Key == lost ? null : entry.Key == shrunk ? entry with { Length = 10 } : entry);

        var report = await VerifyAsync();

        Assert.Equal([0L, 15L], report.BadChunks.Select(b => b.Chunk));
        Assert.Equal("missing", report.BadChunks[0].Problem);
        Assert.StartsWith("wrong size", report.BadChunks[1].Problem);
    }

    [Fact]
    public async Task A_damaged_pack_index_makes_its_chunks_missing_and_says_why()
    {
        var manifest = await ImportAsync();
        string index = Assert.Single(Directory.GetFiles(Path.Combine(_temp.Store.Root, "packs"), "*.idx"));
        byte[] bytes = File.ReadAllBytes(index);
        bytes[PackIndex.EntriesOffset + 40] ^= 0x01; // a length, under the checksum
        File.WriteAllBytes(index, bytes);

        var report = await new ImageVerifier(ImageStore.OpenExisting(_temp.Store.Root)).VerifyAsync("a", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(manifest.NonZeroChunkCount, report.BadChunks.Count);
        Assert.All(report.BadChunks, bad => Assert.Contains("checksum", bad.Problem));
        var gc = Assert.Throws<ImageStoreException>(() => ImageStore.OpenExisting(_temp.Store.Root).CollectGarbage(TimeSpan.Zero));
        Assert.Contains("before deleting any chunk", gc.Message);
        Assert.True(File.Exists(index));
    }

    [Fact]
    public async Task A_damaged_manifest_is_reported_not_thrown()
    {
        await ImportAsync();
        string path = Path.Combine(_temp.Store.Root, "images", "a", "manifest");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[40] ^= 0xFF;
        File.WriteAllBytes(path, bytes);

        var report = await VerifyAsync();

        Assert.False(report.IsValid);
        Assert.Contains("root hash", report.ManifestError);
    }
}
