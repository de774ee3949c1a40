using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// Allocation budget of the store's read path (issue 13, deliverable 1): a read of a stored image, as the NBD
/// server and the AoE target make it, is a lookup and a <c>pread</c> on a pack kept open, and allocates nothing.
/// The device completes synchronously, so <see cref="GC.GetAllocatedBytesForCurrentThread"/> sees everything.
/// </summary>
public sealed class StoreReadAllocationTests : IDisposable
{
    private const int Chunk = 64 * 1024;
    private const int Chunks = 64;
    private const long Budget = 0;
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Reads_of_a_stored_image_allocate_nothing()
    {
        var image = new SparseImage(_temp.PathFor("disk.raw"), Chunks * (long)Chunk).Data(0, Chunks * Chunk);
        await _temp.ImportAsync(image.Path, "disk", Chunk);
        await using var device = _temp.Store.OpenDevice("disk");
        var frame = new byte[8192];  // an AoE jumbo frame's worth
        var request = new byte[256 * 1024]; // an nbdcopy request: four chunks
        for (int i = 0; i < Chunks; i++)
            await device.ReadAsync(i * (long)Chunk, frame, CancellationToken.None);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
            await device.ReadAsync(i % (Chunks * 8) * 8192L, frame, CancellationToken.None);
        long perFrame = (GC.GetAllocatedBytesForCurrentThread() - before) / 10_000;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
            await device.ReadAsync(i % (Chunks / 4) * (long)request.Length, request, CancellationToken.None);
        long perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / 1000;

        TestContext.Current.TestOutputHelper?.WriteLine($"per 8 KiB read {perFrame} B, per 256 KiB read {perRequest} B");
        Assert.True(perFrame <= Budget, $"an 8 KiB read allocates {perFrame} B, budget {Budget} B");
        Assert.True(perRequest <= Budget, $"a 256 KiB read allocates {perRequest} B, budget {Budget} B");
        Assert.True(request.AsSpan().SequenceEqual(image.Content.Slice((int)(999 % (Chunks / 4) * (long)request.Length), request.Length)));
    }
}
