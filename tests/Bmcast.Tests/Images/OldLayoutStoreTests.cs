using Bmcast.Images;
using Bmcast.Images.Packs;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// Stores written before packs (one file per chunk under <c>chunks/ab/abcd…</c>) keep working: they are read, verified
/// and served as they are, and the first write moves them into packs with one line saying so; a move cut short is
/// finished by the next write.
/// </summary>
public sealed class OldLayoutStoreTests
{
    private const int Chunk = 64 * 1024;

    /// <summary>
    /// Rewrite <paramref name="root"/> into the layout the store had before packs: every chunk of every image in
    /// <c>chunks/ab/abcdef…</c> (named by its SHA-256, exactly the bytes), no <c>packs/</c>, no <c>packs.lock</c>.
    /// </summary>
    private static void ToOldLayout(string root)
    {
        var store = ImageStore.OpenExisting(root);
        foreach (var info in store.List())
        {
            var manifest = store.ReadManifest(info.Name);
            for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
            {
                if (manifest.IsZeroChunk(chunk))
                    continue;
                string hex = Convert.ToHexStringLower(manifest.ChunkHash(chunk));
                string path = Path.Combine(root, "chunks", hex[..2], hex);
                var data = new byte[manifest.ChunkLength(chunk)];
                Assert.Equal(ChunkRead.Done, store.Chunks.TryRead(manifest.ChunkHash(chunk), 0, data));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, data);
            }
        }
        store.Chunks.Dispose();
        Directory.Delete(Path.Combine(root, "packs"), recursive: true);
        File.Delete(Path.Combine(root, "packs.lock"));
    }

    private static SparseImage Mixed(string path, int seed) =>
        new SparseImage(path, 40L * Chunk + 777, seed).Data(0, 5 * Chunk + 100).Data(20L * Chunk, 3 * Chunk).Data(40L * Chunk, 777);

    [Fact(Timeout = 300_000)]
    public async Task An_old_store_is_verified_and_served_as_it_is_and_the_first_import_moves_it_into_packs()
    {
        ExternalTool.Require("nbdcopy");
        using var dir = new TempDirectory();
        string store = dir.File("store"), socket = dir.File("serve.sock");
        var first = Mixed(dir.File("first.raw"), seed: 1);
        var second = Mixed(dir.File("second.raw"), seed: 2);
        await StoreChecks.RunAsync("image", "import", first.Path, "--name", "first", "--store", store);
        ToOldLayout(store);
        Assert.Equal(10, Directory.GetFiles(Path.Combine(store, "chunks"), "*", SearchOption.AllDirectories).Length);

        await StoreChecks.RunAsync("image", "verify", "first", "--store", store);
        await using var server = await StoreChecks.ServeAsync(store, socket);
        await StoreChecks.NbdCopyAndCompareAsync($"nbd+unix:///first?socket={socket}", dir.File("copy.raw"), first, server);
        Assert.True(Directory.Exists(Path.Combine(store, "chunks")), "a command that only reads moved the store");

        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), "image", "import", second.Path, "--name", "second", "--store", store);

        Assert.True(code == 0, error);
        Assert.Contains($"image store {store}: moved 10 chunk files (", error);
        Assert.Contains("one-time migration to the pack layout", error);
        Assert.False(Directory.Exists(Path.Combine(store, "chunks")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(store, "packs"), "*.idx"));
        await StoreChecks.RunAsync("image", "verify", "first", "--store", store);
        await StoreChecks.RunAsync("image", "verify", "second", "--store", store);
        // The server that read chunk files before the move reads packs now.
        await StoreChecks.NbdCopyAndCompareAsync($"nbd+unix:///first?socket={socket}", dir.File("copy.raw"), first, server);
        await ExternalTool.RunCheckedAsync(TimeSpan.FromMinutes(2), "qemu-img", "compare", "-f", "raw", "-F", "raw", second.Path, $"nbd+unix:///second?socket={socket}");
        var (again, _, quiet) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "gc", "--store", store);
        Assert.Equal(0, again);
        Assert.DoesNotContain("moved", quiet);
    }

    [Fact]
    public async Task A_move_cut_short_reads_from_both_layouts_and_the_next_write_finishes_it()
    {
        using var temp = new TempStore();
        var first = Mixed(temp.PathFor("first.raw"), seed: 3);
        await temp.ImportAsync(first.Path, "first", Chunk);
        ToOldLayout(temp.Store.Root);
        var moving = ImageStore.OpenExisting(temp.Store.Root);
        string cut = temp.PathFor("cut");
        moving.Chunks.StepReached = step =>
        {
            if (step == PackStep.Published) // the packs are in, chunks/ not yet deleted
                StoreChecks.CopyDirectory(moving.Root, cut);
        };
        var lines = new List<string>();

        moving.CollectGarbage(TimeSpan.Zero);

        var store = ImageStore.OpenExisting(cut, lines.Add);
        Assert.True(Directory.Exists(Path.Combine(cut, "chunks")) && Directory.GetFiles(Path.Combine(cut, "packs"), "*.idx").Length == 1);
        Assert.Equal(10, store.Chunks.Count);
        await StoreChecks.AssertIntactAsync(store, "first", first);
        store.CollectGarbage(TimeSpan.Zero);
        Assert.Contains(lines, l => l.Contains("moved 10 chunk files"));
        Assert.False(Directory.Exists(Path.Combine(cut, "chunks")));
        Assert.Equal(10, store.Chunks.Count);
        Assert.Single(Directory.GetFiles(Path.Combine(cut, "packs"), "*.idx")); // nothing was packed twice
        await StoreChecks.AssertIntactAsync(store, "first", first);
    }

}
