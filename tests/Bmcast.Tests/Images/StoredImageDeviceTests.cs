using Bmcast.Core.Storage;
using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

public sealed class StoredImageDeviceTests : IDisposable
{
    private const int Chunk = 64 * 1024;
    private const long Size = 48L * Chunk + 12345; // not a multiple of the chunk size
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Holes, allocated zero runs, data across chunk boundaries, a partial data chunk, a short last chunk.</summary>
    private SparseImage Build() =>
        new SparseImage(_temp.PathFor("disk.raw"), Size)
            .Data(0, 10_000)
            .Zeros(4L * Chunk, 2 * Chunk)
            .Data(7L * Chunk - 100, Chunk + 200)
            .Data(20L * Chunk + 8192, 4096)
            .Zeros(30L * Chunk, 4096)
            .Data(Size - 50, 50);

    [Fact]
    public async Task Import_of_a_sparse_file_reads_back_byte_identical()
    {
        var image = Build();
        var result = await _temp.ImportAsync(image.Path, "disk");
        await using var device = _temp.Store.OpenDevice("disk");

        Assert.Equal(Size, device.Size);
        var whole = new byte[Size];
        await device.ReadAsync(0, whole, TestContext.Current.CancellationToken);
        Assert.True(whole.AsSpan().SequenceEqual(image.Content));

        var random = new Random(7);
        for (int i = 0; i < 200; i++)
        {
            long offset = random.NextInt64(Size);
            var part = new byte[(int)Math.Min(random.Next(1, 3 * Chunk), Size - offset)];
            await device.ReadAsync(offset, part, TestContext.Current.CancellationToken);
            Assert.True(part.AsSpan().SequenceEqual(image.Content.Slice((int)offset, part.Length)), $"read at {offset}+{part.Length}");
        }
        Assert.True(result.DataBytesRead < Size / 4, $"read {result.DataBytesRead} bytes: holes must not be read");
    }

    /// <summary>
    /// Reads merge chunks that lie back to back in a pack into one <c>pread</c>: runs must break where a chunk is a
    /// zero chunk, is shared with an image imported earlier (another pack, another order) or repeats within the image.
    /// </summary>
    [Fact]
    public async Task Reads_across_packs_shared_and_repeated_chunks_read_back_byte_identical()
    {
        var ct = TestContext.Current.CancellationToken;
        var first = new SparseImage(_temp.PathFor("first.raw"), 8L * Chunk, seed: 3).Data(0, 8 * Chunk);
        await _temp.ImportAsync(first.Path, "first");
        var second = new SparseImage(_temp.PathFor("second.raw"), 12L * Chunk, seed: 4).Data(0, 2 * Chunk);
        foreach (var (at, from) in new[] { (2, 5), (3, 6), (6, 7), (7, 0), (9, 0) })
            second.Write(at * (long)Chunk, first.Content.Slice(from * Chunk, Chunk).ToArray());
        second.Data(5L * Chunk, Chunk).Data(8L * Chunk, Chunk).Data(10L * Chunk, 2 * Chunk - 1); // chunk 4 stays zero
        await _temp.ImportAsync(second.Path, "second");
        await using var device = _temp.Store.OpenDevice("second");

        var whole = new byte[second.Content.Length];
        await device.ReadAsync(0, whole, ct);
        Assert.True(whole.AsSpan().SequenceEqual(second.Content));
        var random = new Random(11);
        for (int i = 0; i < 300; i++)
        {
            long offset = random.NextInt64(whole.Length);
            var part = new byte[(int)Math.Min(random.Next(1, 5 * Chunk), whole.Length - offset)];
            await device.ReadAsync(offset, part, ct);
            Assert.True(part.AsSpan().SequenceEqual(second.Content.Slice((int)offset, part.Length)), $"read at {offset}+{part.Length}");
        }
    }

    /// <summary>
    /// A read is located in a file (for the NBD server to <c>sendfile</c>) exactly when it lies whole and back to back
    /// in one pack; there its bytes are the image's. Whether two chunks lie back to back is read from the store: an
    /// import's workers append chunks in the order they finish hashing them, which is mostly but not always the image's.
    /// </summary>
    [Fact]
    public async Task A_read_is_located_in_a_pack_only_when_it_lies_there_back_to_back()
    {
        var first = new SparseImage(_temp.PathFor("first.raw"), 8L * Chunk, seed: 3).Data(0, 8 * Chunk);
        await _temp.ImportAsync(first.Path, "first");
        var second = new SparseImage(_temp.PathFor("second.raw"), 6L * Chunk, seed: 4).Data(0, 2 * Chunk).Data(5L * Chunk, Chunk);
        // Chunks 2-3: the first's 5 and 7, in the first's pack but (unless its import put them so) not back to back;
        // chunk 4 zero.
        second.Write(2L * Chunk, first.Content.Slice(5 * Chunk, Chunk).ToArray());
        second.Write(3L * Chunk, first.Content.Slice(7 * Chunk, Chunk).ToArray());
        await _temp.ImportAsync(second.Path, "second");
        await using var device = _temp.Store.OpenDevice("second");

        // Within one chunk: always there.
        AssertLocatedWithTheImagesBytes(device, second, 100, Chunk - 200);
        AssertLocatedWithTheImagesBytes(device, second, 5L * Chunk, Chunk);
        // Across two chunks of one import: there exactly when the store put them back to back.
        foreach (var (offset, length) in new[] { (0L, 2 * Chunk), (100L, Chunk), (2L * Chunk + 100, 2 * Chunk - 200) })
        {
            if (BackToBack(device, offset / Chunk))
                AssertLocatedWithTheImagesBytes(device, second, offset, length);
            else
                Assert.False(device.TryLocateInFile(offset, length, out _), $"read at {offset}+{length} located across chunks apart");
        }
        Assert.False(device.TryLocateInFile(Chunk, 2 * Chunk, out _)); // across two packs
        Assert.False(device.TryLocateInFile(3L * Chunk, 2 * Chunk, out _)); // over a zero chunk
    }

    private bool BackToBack(StoredImageDevice device, long chunk)
    {
        Assert.True(_temp.Store.Chunks.TryLocatePacked(device.Manifest.ChunkHash(chunk), out var at));
        Assert.True(_temp.Store.Chunks.TryLocatePacked(device.Manifest.ChunkHash(chunk + 1), out var next));
        return at.Pack == next.Pack && at.Offset + at.Length == next.Offset;
    }

    private static void AssertLocatedWithTheImagesBytes(StoredImageDevice device, SparseImage image, long offset, int length)
    {
        Assert.True(device.TryLocateInFile(offset, length, out var position), $"read at {offset}+{length}");
        var bytes = new byte[length];
        Assert.Equal(length, RandomAccess.Read(position.File, bytes, position.Offset));
        Assert.True(bytes.AsSpan().SequenceEqual(image.Content.Slice((int)offset, length)), $"bytes of the read at {offset}+{length}");
    }

    [Fact]
    public async Task Zero_chunks_holes_and_explicit_zeros_are_recorded_not_stored()
    {
        var image = Build();
        var result = await _temp.ImportAsync(image.Path, "disk");
        var manifest = _temp.Store.ReadManifest("disk");

        for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
            Assert.Equal(IsZero(image, chunk), manifest.IsZeroChunk(chunk));
        // Chunks 0, 6, 7, 8, 20 and the short last one (12345 bytes) hold data.
        Assert.Equal(6, manifest.NonZeroChunkCount);
        Assert.Equal(6, _temp.StoredChunkCount());
        Assert.Equal(manifest.ChunkCount - 6, result.Image.ZeroChunkCount);
        Assert.Equal(5L * Chunk + 12345, result.Image.StoredBytes);
    }

    [Fact]
    public async Task Allocation_reports_zero_chunks_as_holes_and_merges_runs()
    {
        var image = Build();
        await _temp.ImportAsync(image.Path, "disk");
        await using var device = _temp.Store.OpenDevice("disk");

        var extents = new AllocationExtent[64];
        int count = device.DescribeAllocation(0, Size, extents);
        Assert.Equal(ExpectedExtents(image, 0, Size), extents[..count]);

        // From the middle of a chunk, for less than the whole device.
        long offset = 5L * Chunk + 17;
        count = device.DescribeAllocation(offset, 15L * Chunk, extents);
        Assert.Equal(ExpectedExtents(image, offset, 15L * Chunk), extents[..count]);

        // Room for one extent: the first run only.
        count = device.DescribeAllocation(0, Size, extents.AsSpan(0, 1));
        Assert.Equal(1, count);
        Assert.Equal(new AllocationExtent(Chunk, AllocationFlags.Allocated), extents[0]);
    }

    [Fact]
    public async Task Writes_are_refused()
    {
        await _temp.ImportAsync(Build().Path, "disk");
        await using var device = _temp.Store.OpenDevice("disk");

        Assert.Equal(BlockDeviceCapabilities.MultiConnection, device.Capabilities);
        var error = await Assert.ThrowsAsync<BlockDeviceException>(() =>
            device.WriteAsync(0, new byte[512], false, TestContext.Current.CancellationToken).AsTask());
        Assert.Equal(BlockDeviceException.EPERM, error.Errno);
    }

    private static bool IsZero(SparseImage image, long chunk)
    {
        long start = chunk * Chunk;
        return !image.Content.Slice((int)start, (int)Math.Min(Chunk, Size - start)).ContainsAnyExcept((byte)0);
    }

    private static AllocationExtent[] ExpectedExtents(SparseImage image, long offset, long length)
    {
        var extents = new List<AllocationExtent>();
        for (long position = offset; position < offset + length;)
        {
            long chunk = position / Chunk;
            long end = Math.Min((chunk + 1) * Chunk, offset + length);
            var flags = IsZero(image, chunk) ? AllocationFlags.Hole | AllocationFlags.Zero : AllocationFlags.Allocated;
            if (extents.Count > 0 && extents[^1].Flags == flags)
                extents[^1] = extents[^1] with { Length = extents[^1].Length + end - position };
            else
                extents.Add(new AllocationExtent(end - position, flags));
            position = end;
        }
        return [.. extents];
    }
}
