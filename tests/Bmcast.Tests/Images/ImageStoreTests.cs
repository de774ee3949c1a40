using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

public sealed class ImageStoreTests : IDisposable
{
    private const int Chunk = 4096;
    private const int SmallBatch = 64; // chunks per durable batch, so small imports cross batch boundaries
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private SparseImage Dense(string file, int chunks, int seed) =>
        new SparseImage(_temp.PathFor(file), (long)chunks * Chunk, seed).Data(0, chunks * Chunk);

    [Fact]
    public async Task Images_sharing_content_store_shared_chunks_once()
    {
        var first = Dense("a.raw", 16, seed: 1);
        var second = new SparseImage(_temp.PathFor("b.raw"), 16 * Chunk, seed: 2)
            .Write(0, first.Content.ToArray())
            .Data(5 * Chunk, Chunk); // one chunk differs

        var a = await _temp.ImportAsync(first.Path, "a", Chunk);
        var b = await _temp.ImportAsync(second.Path, "b", Chunk);

        Assert.Equal(16, a.NewChunks);
        Assert.Equal(1, b.NewChunks);
        Assert.Equal(Chunk, b.NewBytes);
        Assert.Equal(17, _temp.StoredChunkCount());
    }

    [Fact]
    public async Task Listing_while_an_image_is_removed_leaves_it_out_instead_of_failing()
    {
        var ct = TestContext.Current.CancellationToken;
        var kept = Dense("kept.raw", 4, seed: 4);
        var churned = Dense("churned.raw", 4, seed: 5);
        await _temp.ImportAsync(kept.Path, "kept", Chunk);
        using var stop = new CancellationTokenSource();
        int listings = 0;
        // bmcast serve lists the store as it starts (and AoE slots are assigned from a listing) while `image rm` may
        // be taking an image away: the listing saw the directory, then found it gone, and serve died of it.
        var lister = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.Contains(_temp.Store.List(), i => i.Name == "kept");
                listings++;
            }
        }, ct);
        for (int round = 0; round < 40 && !lister.IsCompleted; round++)
        {
            await _temp.ImportAsync(churned.Path, "churned", Chunk);
            _temp.Store.Remove("churned", TimeSpan.Zero);
        }
        stop.Cancel();
        await lister;
        TestContext.Current.TestOutputHelper?.WriteLine($"{listings} listings over 40 imports and removals");
    }

    [Fact]
    public async Task Repeated_chunks_within_an_image_are_stored_once()
    {
        byte[] block = new byte[Chunk];
        new Random(3).NextBytes(block);
        var image = new SparseImage(_temp.PathFor("r.raw"), 8 * Chunk);
        for (int i = 0; i < 8; i++)
            image.Write(i * Chunk, block);

        var result = await _temp.ImportAsync(image.Path, "r", Chunk);

        Assert.Equal(1, result.NewChunks);
        Assert.Equal(8 * Chunk, result.Image.StoredBytes);
        Assert.Equal(1, _temp.StoredChunkCount());
    }

    [Fact]
    public async Task Remove_collects_only_chunks_no_other_image_uses()
    {
        // a and b share 2 of a's 8 chunks: once a is gone its pack is a quarter live, so it is rewritten.
        var first = Dense("a.raw", 8, seed: 1);
        var second = new SparseImage(_temp.PathFor("b.raw"), 8 * Chunk, seed: 2)
            .Write(0, first.Content[..(2 * Chunk)].ToArray())
            .Data(2 * Chunk, 6 * Chunk);
        await _temp.ImportAsync(first.Path, "a", Chunk);
        await _temp.ImportAsync(second.Path, "b", Chunk);
        Assert.Equal(14, _temp.StoredChunkCount());
        long before = PackBytes();

        var garbage = _temp.Store.Remove("a", TimeSpan.Zero);

        Assert.Equal(6, garbage.ChunksRemoved);
        Assert.Equal(1, garbage.PacksRewritten);
        Assert.Equal(before - PackBytes(), garbage.BytesFreed);
        Assert.True(garbage.BytesFreed >= 6L * Chunk, $"freed {garbage.BytesFreed} bytes");
        Assert.Equal(8, _temp.StoredChunkCount());
        Assert.Equal(["b"], _temp.Store.List().Select(i => i.Name));
        var report = await new ImageVerifier(_temp.Store).VerifyAsync("b", cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(report.IsValid);
        Assert.Throws<ImageNotFoundException>(() => _temp.Store.Remove("a", TimeSpan.Zero));
    }

    private long PackBytes() =>
        Directory.EnumerateFiles(Path.Combine(_temp.Store.Root, "packs")).Sum(path => new FileInfo(path).Length);

    [Fact]
    public async Task Importing_an_existing_name_needs_force_which_replaces_it()
    {
        var first = Dense("a.raw", 4, seed: 1);
        var second = Dense("b.raw", 4, seed: 2);
        await _temp.ImportAsync(first.Path, "disk", Chunk);

        await Assert.ThrowsAsync<ImageExistsException>(() => _temp.ImportAsync(second.Path, "disk", Chunk));
        var replaced = await new ImageImporter(_temp.Store).ImportAsync(second.Path,
            new ImportOptions("disk", Chunk, DiskImageFormat.Raw, Force: true), cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(replaced.Replaced);
        Assert.Equal(replaced.Image.RootHash, _temp.Store.GetInfo("disk").RootHash);
        Assert.Equal(8, _temp.StoredChunkCount()); // the replaced image's chunks go by gc after the grace period (RemovalGrace)
        Assert.Equal(4, _temp.Store.CollectGarbage(TimeSpan.Zero).ChunksRemoved);
        Assert.Equal(4, _temp.StoredChunkCount());
    }

    [Fact]
    public async Task An_import_started_while_the_store_is_held_exclusively_waits_for_it()
    {
        var image = Dense("a.raw", 4, seed: 1);
        Task<ImportResult> import;
        using (StoreLock.Exclusive(_temp.Store.Root)) // as garbage collection holds it
        {
            import = Task.Run(() => _temp.ImportAsync(image.Path, "disk", Chunk));
            await Task.Delay(300, TestContext.Current.CancellationToken); // time enough to fail, had it not waited
            Assert.False(import.IsCompleted);
        }
        Assert.Equal("disk", (await import).Image.Name);
    }

    [Fact]
    public async Task Concurrent_imports_of_the_same_content_store_it_once()
    {
        var image = Dense("a.raw", 600, seed: 5);
        var importer = new ImageImporter(_temp.Store, SmallBatch);
        Task<ImportResult> ImportAs(string name) => importer.ImportAsync(image.Path,
            new ImportOptions(name, Chunk, DiskImageFormat.Raw), cancellationToken: TestContext.Current.CancellationToken);

        var results = await Task.WhenAll(ImportAs("one"), ImportAs("two"));

        Assert.Equal(600, results.Sum(r => r.NewChunks));
        Assert.Equal(600, _temp.StoredChunkCount());
        Assert.Equal(results[0].Image.RootHash, results[1].Image.RootHash);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_temp.Store.Root, "tmp")));
    }

    [Fact]
    public async Task Of_two_imports_racing_for_one_name_exactly_one_wins()
    {
        var first = Dense("a.raw", 64, seed: 1);
        var second = Dense("b.raw", 64, seed: 2);

        var imports = new[] { _temp.ImportAsync(first.Path, "disk", Chunk), _temp.ImportAsync(second.Path, "disk", Chunk) };
        await Assert.ThrowsAsync<ImageExistsException>(() => Task.WhenAll(imports));

        var winner = Assert.Single(imports, t => t.IsCompletedSuccessfully);
        Assert.Equal((await winner).Image.RootHash, _temp.Store.GetInfo("disk").RootHash);
        Assert.True((await new ImageVerifier(_temp.Store).VerifyAsync("disk", cancellationToken: TestContext.Current.CancellationToken)).IsValid);
    }

    [Fact]
    public async Task An_interrupted_import_leaves_nothing_visible_and_a_rerun_reuses_the_packs_it_published()
    {
        // Past several batch commits: what was committed stays, unreferenced, for the rerun (and for gc after the grace period).
        var image = Dense("big.raw", 800, seed: 4);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var importer = new ImageImporter(_temp.Store, SmallBatch);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => importer.ImportAsync(image.Path,
            new ImportOptions("big", Chunk, DiskImageFormat.Raw),
            progress => { if (progress.Done > progress.Total * 3 / 4) cancel.Cancel(); },
            cancel.Token));

        Assert.Empty(_temp.Store.List());
        Assert.False(_temp.Store.Exists("big"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_temp.Store.Root, "tmp")));
        long left = _temp.StoredChunkCount();
        Assert.True(left > 0, "no pack was published before the interruption");

        var rerun = await _temp.ImportAsync(image.Path, "big", Chunk);
        Assert.Equal(800 - left, rerun.NewChunks);
        Assert.True((await new ImageVerifier(_temp.Store).VerifyAsync("big", cancellationToken: TestContext.Current.CancellationToken)).IsValid);
    }

    [Fact]
    public async Task Import_errors_are_clear()
    {
        var importer = new ImageImporter(_temp.Store);
        var ct = TestContext.Current.CancellationToken;
        var file = Dense("a.raw", 1, seed: 1).Path;

        var missing = await Assert.ThrowsAsync<ImageStoreException>(() => importer.ImportAsync(_temp.PathFor("nope"), new ImportOptions("x"), cancellationToken: ct));
        Assert.Contains("no such file", missing.Message);
        await Assert.ThrowsAsync<ImageStoreException>(() => importer.ImportAsync(file, new ImportOptions("../x"), cancellationToken: ct));
        await Assert.ThrowsAsync<ImageStoreException>(() => importer.ImportAsync(file, new ImportOptions("x", ChunkSize: 3000), cancellationToken: ct));
        await Assert.ThrowsAsync<ImageStoreException>(() => importer.ImportAsync(file, new ImportOptions("x", ChunkSize: 32 << 20), cancellationToken: ct));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task The_signing_key_is_created_on_first_import_private_to_its_owner()
    {
        Assert.Null(_temp.Store.KeyFingerprint);
        var result = await _temp.ImportAsync(Dense("a.raw", 1, seed: 1).Path, "a", Chunk);
        Assert.Equal(result.Image.KeyFingerprint, _temp.Store.KeyFingerprint);
        var mode = File.GetUnixFileMode(Path.Combine(_temp.Store.Root, "keys", "store.key"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
    }

    [Theory]
    [InlineData("debian-12", true)]
    [InlineData("a.b_c-D9", true)]
    [InlineData("", false)]
    [InlineData(".hidden", false)]
    [InlineData("..", false)]
    [InlineData("a/b", false)]
    [InlineData("a b", false)]
    [InlineData("manifest:a", false)]
    public void Image_names_are_validated(string name, bool valid) => Assert.Equal(valid, ImageName.IsValid(name));

    [Fact]
    public void Over_long_names_are_rejected() => Assert.False(ImageName.IsValid(new string('a', ImageName.MaxLength + 1)));

    [Theory]
    [InlineData("64K", 65536L)]
    [InlineData("64KiB", 65536L)]
    [InlineData("1m", 1048576L)]
    [InlineData("4096", 4096L)]
    public void Sizes_parse(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out long parsed));
        Assert.Equal(bytes, parsed);
    }

    [Fact]
    public async Task Of_servers_racing_to_keep_a_boot_profile_on_one_store_the_first_wins_and_nothing_else_is_left()
    {
        await _temp.ImportAsync(Dense("disk.raw", 4, seed: 1).Path, "disk", Chunk);
        string storePath = Path.Combine(_temp.Directory, "store");
        // Eight servers, each its own ImageStore over the same directory, offer different profiles at the same moment.
        var stores = Enumerable.Range(0, 8).Select(_ => ImageStore.Open(storePath)).ToArray();
        using var start = new Barrier(stores.Length);
        var kept = await Task.WhenAll(stores.Select((store, i) => Task.Run(() =>
        {
            start.SignalAndWait();
            return store.TryWriteBootProfileOnce("disk", System.Text.Encoding.ASCII.GetBytes($"{i}\n"));
        })));
        int winner = Assert.Single(Enumerable.Range(0, kept.Length), i => kept[i]);
        string imageDirectory = Path.Combine(storePath, "images", "disk");
        Assert.Equal($"{winner}\n", File.ReadAllText(Path.Combine(imageDirectory, "boot-profile")));
        Assert.Empty(Directory.GetFiles(imageDirectory, "*.new"));
    }
}
