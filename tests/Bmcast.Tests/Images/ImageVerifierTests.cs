using Bmcast.Images;
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
    public async Task A_flipped_byte_in_a_chunk_file_is_found_and_named()
    {
        var manifest = await ImportAsync();
        string path = _temp.Store.Chunks.PathOf(manifest.ChunkHash(11));
        byte[] bytes = File.ReadAllBytes(path);
        bytes[1234] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        var report = await VerifyAsync();

        Assert.False(report.IsValid);
        var bad = Assert.Single(report.BadChunks);
        Assert.Equal(11, bad.Chunk);
        Assert.Equal(11L * Chunk, bad.Offset);
        Assert.Equal(path, bad.Path);
        Assert.Equal("hash mismatch", bad.Problem);
    }

    [Fact]
    public async Task Missing_and_truncated_chunk_files_are_reported()
    {
        var manifest = await ImportAsync();
        File.Delete(_temp.Store.Chunks.PathOf(manifest.ChunkHash(0)));
        File.WriteAllBytes(_temp.Store.Chunks.PathOf(manifest.ChunkHash(15)), new byte[10]);

        var report = await VerifyAsync();

        Assert.Equal([0L, 15L], report.BadChunks.Select(b => b.Chunk));
        Assert.Equal("missing", report.BadChunks[0].Problem);
        Assert.StartsWith("wrong size", report.BadChunks[1].Problem);
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
