using Bmcast.Images;
using Bmcast.Images.Packs;
using Bmcast.Tests.Support;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// Crash safety of packs (issue 13, deliverable 1). The store is copied as it is on disk at every step of appending
/// to a pack and publishing it, and of garbage collection replacing packs: each copy is what a process killed at
/// that moment leaves. A power cut can also lose what was never made durable, so each copy is checked a second time
/// with the unpublished packs and partial indexes cut in half. Every copy must open, verify every image it lists,
/// collect its garbage down to exactly the chunks its manifests name, and take the interrupted import again.
/// </summary>
public sealed class PackCrashTests : IDisposable
{
    private const int Chunk = 4096;
    private readonly TempStore _temp = new();
    private readonly List<(string Step, string Directory)> _snapshots = [];

    public void Dispose() => _temp.Dispose();

    private SparseImage Dense(string file, int chunks, int seed) =>
        new SparseImage(_temp.PathFor(file), (long)chunks * Chunk, seed).Data(0, chunks * Chunk);

    [Fact]
    public async Task A_kill_or_power_cut_at_any_step_of_an_import_leaves_the_old_state_intact()
    {
        var ct = TestContext.Current.CancellationToken;
        var base_ = Dense("base.raw", 12, seed: 1);
        var added = Dense("new.raw", 30, seed: 2);
        await _temp.ImportAsync(base_.Path, "base", Chunk);
        int appended = 0;
        _temp.Store.Chunks.StepReached = step =>
        {
            if (step != PackStep.Appended || ++appended % 7 == 0)
                Snapshot(step.ToString());
        };
        await new ImageImporter(_temp.Store, chunksPerBatch: 8).ImportAsync(added.Path, new ImportOptions("new", Chunk, DiskImageFormat.Raw), cancellationToken: ct);
        _temp.Store.Chunks.StepReached = null;

        Assert.Equal(4 * 5 + 30 / 7, _snapshots.Count); // 4 packs of 8, 8, 8 and 6 chunks, every step of each
        foreach (var (store, copy, at) in Crashes())
        {
            Assert.True(store.List().Select(i => i.Name).SequenceEqual(["base"]), $"{at}: the store lists {string.Join(", ", store.List().Select(i => i.Name))}");
            await StoreChecks.AssertIntactAsync(store, "base", base_, at);

            store.CollectGarbage(TimeSpan.Zero);

            AssertOnlyPublishedPacks(copy, at);
            Assert.True(store.Chunks.Count == 12, $"{at}: {store.Chunks.Count} chunks stored after gc, 12 referenced");
            await new ImageImporter(store).ImportAsync(added.Path, new ImportOptions("new", Chunk, DiskImageFormat.Raw), cancellationToken: ct);
            await StoreChecks.AssertIntactAsync(store, "new", added, at);
            await StoreChecks.AssertIntactAsync(store, "base", base_, at);
        }
    }

    [Fact]
    public async Task A_kill_or_power_cut_at_any_step_of_a_compaction_loses_no_live_chunk()
    {
        var big = Dense("big.raw", 32, seed: 3);
        await _temp.ImportAsync(big.Path, "big", Chunk);
        // keep: a quarter of big's chunks, so big's pack is rewritten once big is removed.
        var keep = new SparseImage(_temp.PathFor("keep.raw"), 8L * Chunk);
        for (int i = 0; i < 8; i++)
            keep.Write(i * Chunk, big.Content.Slice(i * 4 * Chunk, Chunk).ToArray());
        await _temp.ImportAsync(keep.Path, "keep", Chunk);
        _temp.Store.Chunks.StepReached = step => Snapshot(step.ToString());

        var report = _temp.Store.Remove("big", TimeSpan.Zero);
        _temp.Store.Chunks.StepReached = null;

        Assert.Equal((24L, 1), (report.ChunksRemoved, report.PacksRewritten));
        Assert.Equal(["Created", "Appended", "Appended", "Appended", "Appended", "Appended", "Appended", "Appended", "Appended",
            "PackDurable", "IndexDurable", "IndexRenamed", "Published", "OldIndexRemoved", "OldPackRemoved"], _snapshots.Select(s => s.Step));
        foreach (var (store, copy, at) in Crashes())
        {
            await StoreChecks.AssertIntactAsync(store, "keep", keep, at);

            store.CollectGarbage(TimeSpan.Zero);

            AssertOnlyPublishedPacks(copy, at);
            Assert.True(store.Chunks.Count == 8, $"{at}: {store.Chunks.Count} chunks stored after gc, 8 referenced");
            Assert.Single(Directory.GetFiles(Path.Combine(copy, "packs"), "*.idx"));
            await StoreChecks.AssertIntactAsync(store, "keep", keep, at);
        }
    }

    /// <summary>A real <c>bmcast image import</c> killed (SIGKILL) while it appends to a pack.</summary>
    [Fact(Timeout = 300_000)]
    public async Task An_import_process_killed_mid_pack_leaves_garbage_that_gc_removes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory();
        var small = new SparseImage(dir.File("small.raw"), 1 << 20, seed: 4).Data(0, 1 << 20);
        var big = new SparseImage(dir.File("big.raw"), 96L << 20, seed: 5).Data(0, 96 << 20);
        // On a loaded machine this poll may sleep through the rest of the import: such an attempt kills nothing and the
        // next one starts on a fresh store.
        string store = "", packs = "";
        HashSet<string> before = [];
        bool killed = false;
        for (int attempt = 1; attempt <= 3 && !killed; attempt++)
        {
            store = dir.File($"store-{attempt}");
            Assert.Equal(0, (await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), "image", "import", small.Path, "--name", "small", "--store", store)).ExitCode);
            packs = Path.Combine(store, "packs");
            before = Directory.GetFiles(packs).ToHashSet();
            await using var import = BmcastProcess.Start("image", "import", big.Path, "--name", "big", "--store", store);
            while (!import.HasExited && !Directory.GetFiles(packs, "*.pack").Except(before).Any(p => new FileInfo(p).Length > 8 << 20))
                await Task.Delay(10, ct);
            await import.KillHardAsync();
            killed = await import.ExitCodeAsync(TimeSpan.FromMinutes(1)) != 0;
        }
        Assert.True(killed, "three imports ended before they could be killed");

        var orphan = Assert.Single(Directory.GetFiles(packs).Except(before));
        Assert.EndsWith(".pack", orphan);
        var listed = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "ls", "--store", store, "--json");
        Assert.DoesNotContain("\"big\"", listed.Output);
        Assert.Equal(0, (await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "verify", "small", "--store", store)).ExitCode);
        var gc = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "gc", "--store", store);
        Assert.Equal(0, gc.ExitCode);
        Assert.False(File.Exists(orphan), "gc left the killed import's pack");
        Assert.Equal(0, (await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), "image", "import", big.Path, "--name", "big", "--store", store)).ExitCode);
        Assert.Equal(0, (await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), "image", "verify", "big", "--store", store)).ExitCode);
    }

    /// <summary>Each snapshot as a kill leaves it and as a power cut does: (the store opened, its directory, a label).</summary>
    private IEnumerable<(ImageStore Store, string Directory, string At)> Crashes()
    {
        foreach (var (step, directory) in _snapshots)
            foreach (bool powerCut in new[] { false, true })
            {
                string copy = Copy(directory, $"{Path.GetFileName(directory)}-{(powerCut ? "cut" : "kill")}");
                if (powerCut)
                    CutWhatWasNotDurable(copy);
                yield return (ImageStore.OpenExisting(copy), copy, $"at {step} ({(powerCut ? "power cut" : "kill")})");
            }
    }

    private void Snapshot(string step)
    {
        string target = _temp.PathFor($"snapshot-{_snapshots.Count:d3}");
        StoreChecks.CopyDirectory(_temp.Store.Root, target);
        _snapshots.Add((step, target));
    }

    private string Copy(string snapshot, string name)
    {
        string target = _temp.PathFor(name);
        StoreChecks.CopyDirectory(snapshot, target);
        return target;
    }

    /// <summary>What a power cut may lose: bytes of packs not yet published and of indexes not yet renamed into place.</summary>
    private static void CutWhatWasNotDurable(string store)
    {
        string packs = Path.Combine(store, "packs");
        foreach (string file in Directory.GetFiles(packs))
        {
            bool unpublishedPack = file.EndsWith(PackFormat.PackSuffix) && !File.Exists(Path.ChangeExtension(file, PackFormat.IndexSuffix));
            if (unpublishedPack || file.EndsWith(PackFormat.PartialIndexSuffix))
                using (var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write))
                    RandomAccess.SetLength(handle, RandomAccess.GetLength(handle) / 2);
        }
    }

    private static void AssertOnlyPublishedPacks(string store, string at)
    {
        foreach (string file in Directory.GetFiles(Path.Combine(store, "packs")))
        {
            Assert.False(file.EndsWith(PackFormat.PartialIndexSuffix), $"{at}: gc left {file}");
            if (file.EndsWith(PackFormat.PackSuffix))
                Assert.True(File.Exists(Path.ChangeExtension(file, PackFormat.IndexSuffix)), $"{at}: gc left {file} without its index");
        }
    }

}
