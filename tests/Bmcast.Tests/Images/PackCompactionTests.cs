using System.Text.Json;
using Bmcast.Images;
using Bmcast.Images.Packs;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// <c>image gc</c> compacts packs (issue 13, deliverable 1): a pack with no live chunk is deleted, one mostly dead is
/// rewritten, one mostly live is kept with its dead bytes; what a published manifest needs is never lost, and readers
/// (in the collecting process, in another store instance as another process would be, and a real <c>bmcast serve</c>
/// read by nbdcopy) keep reading the right bytes while packs are replaced under them.
/// </summary>
public sealed class PackCompactionTests : IDisposable
{
    private const int Chunk = 4096;
    private const int Batch = 16; // chunks per pack
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private Task<ImportResult> ImportAsync(SparseImage image, string name) =>
        new ImageImporter(_temp.Store, Batch).ImportAsync(image.Path, new ImportOptions(name, Chunk, DiskImageFormat.Raw),
            cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>An image of the chunks of <paramref name="from"/> at the given indexes, in that order.</summary>
    private SparseImage Pick(string file, SparseImage from, IEnumerable<int> chunks)
    {
        var list = chunks.ToList();
        var image = new SparseImage(_temp.PathFor(file), (long)list.Count * Chunk);
        for (int i = 0; i < list.Count; i++)
            image.Write((long)i * Chunk, from.Content.Slice(list[i] * Chunk, Chunk).ToArray());
        return image;
    }

    [Fact]
    public async Task Gc_deletes_dead_packs_rewrites_mostly_dead_ones_and_keeps_mostly_live_ones()
    {
        // big: 64 chunks in 4 packs of 16. mostly: 12 of pack 0. little: 4 of pack 1. Pack 2 and 3: only big.
        var big = new SparseImage(_temp.PathFor("big.raw"), 64L * Chunk, seed: 1).Data(0, 64 * Chunk);
        await ImportAsync(big, "big");
        var packs = ChunksByPack("big");
        Assert.Equal([16, 16, 16, 16], packs.Select(p => p.Count));
        var mostly = Pick("mostly.raw", big, packs[0].Take(12));
        var little = Pick("little.raw", big, packs[1].Take(4));
        Assert.Equal(0, (await ImportAsync(mostly, "mostly")).NewChunks);
        Assert.Equal(0, (await ImportAsync(little, "little")).NewChunks);
        Assert.Equal(4, PackCount());

        var report = _temp.Store.Remove("big", TimeSpan.Zero);

        Assert.Equal(12 + 16 + 16, report.ChunksRemoved);
        Assert.Equal((1, 3), (report.PacksRewritten, report.PacksRemoved));
        Assert.Equal(4L * Chunk, report.DeadBytesKept);
        Assert.Equal(16L, report.ChunksKept);
        Assert.Equal(2, PackCount()); // pack 0 kept, little's 4 chunks in a new pack
        Assert.Equal(16 + 4, _temp.StoredChunkCount()); // pack 0's 4 dead chunks stay until it is mostly dead
        await StoreChecks.AssertIntactAsync(_temp.Store, "mostly", mostly);
        await StoreChecks.AssertIntactAsync(_temp.Store, "little", little);

        var again = _temp.Store.CollectGarbage(TimeSpan.Zero);
        Assert.Equal((0L, 0L, 0), (again.ChunksRemoved, again.BytesFreed, again.PacksRemoved));
    }

    [Fact]
    public async Task Readers_in_this_and_another_store_instance_read_right_while_gc_replaces_their_packs()
    {
        var ct = TestContext.Current.CancellationToken;
        var other = ImageStore.OpenExisting(_temp.Store.Root); // as another process (bmcast serve) would have it
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var readers = new List<Task<long>>();
        var kept = new List<(string Name, SparseImage Image)>();
        for (int round = 0; round < 4; round++)
        {
            // Each round: a fresh 64-chunk image, an image of every fourth of its chunks, then the big one removed, so
            // the kept image's packs are a quarter live and rewritten while readers read it.
            var big = new SparseImage(_temp.PathFor($"big{round}.raw"), 64L * Chunk, seed: 10 + round).Data(0, 64 * Chunk);
            await ImportAsync(big, "big");
            var keep = Pick($"keep{round}.raw", big, ChunksByPack("big").SelectMany(pack => pack.Take(4)));
            string name = $"keep{round}";
            await ImportAsync(keep, name);
            kept.Add((name, keep));
            readers.Add(Task.Run(() => ReadUntilAsync(_temp.Store, name, keep, stop.Token), ct));
            readers.Add(Task.Run(() => ReadUntilAsync(other, name, keep, stop.Token), ct));
            await Task.Delay(50, ct);

            var report = _temp.Store.Remove("big", TimeSpan.Zero);

            Assert.Equal(4, report.PacksRewritten);
            await Task.Delay(50, ct);
        }
        stop.Cancel();
        long reads = (await Task.WhenAll(readers)).Sum();
        TestContext.Current.TestOutputHelper?.WriteLine($"{reads} reads while 16 packs were rewritten");
        foreach (var (name, image) in kept)
        {
            await StoreChecks.AssertIntactAsync(_temp.Store, name, image);
            await StoreChecks.AssertIntactAsync(other, name, image);
        }
        // The other instance held the replaced packs open; a refresh lets go of them, freeing their space.
        other.Chunks.Refresh();
        Assert.DoesNotContain(Directory.GetFiles($"/proc/{Environment.ProcessId}/fd").Select(ReadLink), l => l.Contains("(deleted)") && l.Contains(_temp.Store.Root));
    }

    /// <summary>Real peers: <c>bmcast serve</c> read by nbdcopy while <c>bmcast image rm</c> compacts the packs it reads.</summary>
    [Fact(Timeout = 300_000)]
    public async Task Serve_keeps_serving_right_bytes_while_image_rm_and_gc_compact_its_packs()
    {
        ExternalTool.Require("nbdcopy");
        using var dir = new TempDirectory();
        string store = dir.File("store"), socket = dir.File("serve.sock");
        var big = new SparseImage(dir.File("big.raw"), 32L << 20, seed: 7).Data(0, 32 << 20);
        var keep = new SparseImage(dir.File("keep.raw"), 8L << 20);
        for (int i = 0; i < 128; i++) // every fourth 64 KiB chunk of big
            keep.Write(i * 65536L, big.Content.Slice(i * 4 * 65536, 65536).ToArray());
        await StoreChecks.RunAsync("image", "import", big.Path, "--name", "big", "--store", store);
        await StoreChecks.RunAsync("image", "import", keep.Path, "--name", "keep", "--store", store);
        await using var server = await StoreChecks.ServeAsync(store, socket);
        string uri = $"nbd+unix:///keep?socket={socket}";

        // In this process (CliRunner: its --json output is one indented document), beside the serve process.
        var removal = Task.Run(() => CliRunner.RunAsync("image", "rm", "big", "--grace", "0s", "--store", store, "--json"));
        int copies = 0;
        while (!removal.IsCompleted || copies < 2)
            await StoreChecks.NbdCopyAndCompareAsync(uri, dir.File($"copy{copies++}.raw"), keep, server);
        var removed = await removal;
        Assert.True(removed.ExitCode == 0, removed.Error);
        TestContext.Current.TestOutputHelper?.WriteLine($"{copies} nbdcopy runs during and after the removal");

        var garbage = JsonDocument.Parse(removed.Output).RootElement.GetProperty("garbage");
        Assert.Equal(384, garbage.GetProperty("chunksRemoved").GetInt64());
        Assert.Equal(1, garbage.GetProperty("packsRewritten").GetInt32());
        await StoreChecks.NbdCopyAndCompareAsync(uri, dir.File("after.raw"), keep, server); // a new connection: serve takes up the new pack
        Assert.DoesNotContain(Directory.GetFiles($"/proc/{server.Pid}/fd").Select(ReadLink), l => l.Contains("(deleted)") && l.Contains(store));
        await StoreChecks.RunAsync("image", "verify", "keep", "--store", store);
        var gc = JsonDocument.Parse((await CliRunner.RunAsync("image", "gc", "--store", store, "--json")).Output).RootElement.GetProperty("garbage");
        Assert.Equal(0, gc.GetProperty("bytesFreed").GetInt64());
    }

    private static string ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget ?? "";
        }
        catch (IOException)
        {
            return ""; // closed meanwhile
        }
    }

    private static async Task<long> ReadUntilAsync(ImageStore store, string name, SparseImage expected, CancellationToken stop)
    {
        await using var device = store.OpenDevice(name);
        var random = new Random(name.GetHashCode());
        var buffer = new byte[3 * Chunk];
        long reads = 0;
        while (!stop.IsCancellationRequested)
        {
            long offset = random.NextInt64(device.Size - buffer.Length);
            await device.ReadAsync(offset, buffer, CancellationToken.None);
            Assert.True(buffer.AsSpan().SequenceEqual(expected.Content.Slice((int)offset, buffer.Length)), $"{name}: wrong bytes at {offset}");
            reads++;
        }
        return reads;
    }

    /// <summary>The image's chunk indexes in each pack that holds any, oldest pack first (workers append in any order).</summary>
    private List<List<int>> ChunksByPack(string image)
    {
        var manifest = _temp.Store.ReadManifest(image);
        var indexOf = new Dictionary<ChunkKey, int>();
        for (int chunk = 0; chunk < manifest.ChunkCount; chunk++)
            indexOf[ChunkKey.From(manifest.ChunkHash(chunk))] = chunk;
        return _temp.Store.Chunks.Refresh().Packs
            .Select(pack => pack.Index.Entries.Where(e => indexOf.ContainsKey(e.Key)).Select(e => indexOf[e.Key]).Order().ToList())
            .Where(chunks => chunks.Count > 0)
            .ToList();
    }

    private int PackCount() => Directory.GetFiles(Path.Combine(_temp.Store.Root, "packs"), "*.idx").Length;
}
