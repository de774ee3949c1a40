using Bmcast.Core.Manifests;
using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// The removal rule on a directory store, as on a bucket (<see cref="RemovalGrace"/>): <c>rm</c> unpublishes at once,
/// gc deletes an unreferenced pack only once the grace period has passed since it marked it, so a server on another
/// host (which keeps the manifest but not the deleted file open) still reads every chunk meanwhile; imports store again
/// what is only in a marked pack, so deleting it later loses nothing.
/// </summary>
public sealed class RemovalGraceTests : IDisposable
{
    private const int Chunk = 64 * 1024;
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private SparseImage Dense(string file, int seed) =>
        new SparseImage(_temp.PathFor(file), 8 * Chunk, seed).Data(0, 8 * Chunk);

    [Fact]
    public async Task Removal_unpublishes_at_once_and_gc_deletes_the_chunks_only_after_the_grace_period()
    {
        var old = Dense("old.raw", seed: 1);
        await _temp.ImportAsync(old.Path, "old", Chunk);
        await _temp.ImportAsync(Dense("kept.raw", seed: 2).Path, "kept", Chunk);
        var served = _temp.Store.ReadManifest("old"); // what a server still serving the image holds

        var removal = _temp.Store.Remove("old", RemovalGrace.Default);
        Assert.False(_temp.Store.Exists("old"));
        Assert.Equal(["kept"], _temp.Store.List().Select(i => i.Name));
        Assert.Equal((0L, 1), (removal.ChunksRemoved, removal.PacksWaiting));

        var early = _temp.Store.CollectGarbage(RemovalGrace.Default);
        Assert.Equal((0L, 0, 1), (early.ChunksRemoved, early.PacksRemoved, early.PacksWaiting));
        Assert.Equal(8, ReadableChunks(served, old)); // by a server that opens the packs only now

        var marks = _temp.Store.Chunks.Marks.Load();
        var (id, markedAt) = Assert.Single(marks);
        File.SetLastWriteTimeUtc(_temp.Store.Chunks.Marks.PathOf(id), markedAt - RemovalGrace.Default); // the grace period passes
        var late = _temp.Store.CollectGarbage(RemovalGrace.Default);
        Assert.Equal((8L, 1, 0), (late.ChunksRemoved, late.PacksRemoved, late.PacksWaiting));
        Assert.Equal(0, ReadableChunks(served, old));
        Assert.Empty(_temp.Store.Chunks.Marks.Load());
        Assert.True((await new ImageVerifier(_temp.Store).VerifyAsync("kept", cancellationToken: TestContext.Current.CancellationToken)).IsValid);
        Assert.Equal(0, _temp.Store.CollectGarbage(TimeSpan.Zero).ChunksRemoved); // nothing a published manifest needs
    }

    [Fact]
    public async Task An_import_does_not_reuse_chunks_gc_has_marked_so_deleting_them_later_loses_nothing()
    {
        var image = Dense("a.raw", seed: 1);
        await _temp.ImportAsync(image.Path, "a", Chunk);
        Assert.Equal(1, _temp.Store.Remove("a", RemovalGrace.Default).PacksWaiting); // marked

        var again = await _temp.ImportAsync(image.Path, "b", Chunk);
        Assert.Equal(8, again.NewChunks);
        var collected = _temp.Store.CollectGarbage(TimeSpan.Zero);
        Assert.Equal(1, collected.PacksRemoved);
        Assert.Equal(8, ReadableChunks(_temp.Store.ReadManifest("b"), image));
        Assert.True((await new ImageVerifier(_temp.Store).VerifyAsync("b", cancellationToken: TestContext.Current.CancellationToken)).IsValid);
    }

    /// <summary>How many of the manifest's chunks a fresh instance of the store (another server) reads with the right bytes.</summary>
    private int ReadableChunks(Manifest manifest, SparseImage image)
    {
        using var other = ImageStore.OpenExisting(_temp.Store.Root).Chunks;
        var buffer = new byte[Chunk];
        int readable = 0;
        for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
            if (other.TryRead(manifest.ChunkHash(chunk), 0, buffer) == ChunkRead.Done
                && buffer.AsSpan().SequenceEqual(image.Content.Slice((int)(chunk * Chunk), Chunk)))
                readable++;
        return readable;
    }
}
