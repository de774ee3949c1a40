using Bmcast.Core.Manifests;

namespace Bmcast.Agent.BareMetal;

/// <summary>
/// The local disk against the image, chunk by chunk: every chunk the guest did not write (the hypervisor's written
/// map) must hold the image's bytes; a chunk the guest wrote holds the guest's data and is only counted.
/// </summary>
/// <param name="Differing">Chunks the guest did not write whose bytes are not the image's (at most the first 16).</param>
public sealed record DiskComparison(long ComparedChunks, long GuestWrittenChunks, long DifferingChunks, IReadOnlyList<long> Differing)
{
    public bool Equal => DifferingChunks == 0;

    public static async Task<DiskComparison> CompareAsync(string image, string disk, Manifest manifest, bool[] written, CancellationToken ct)
    {
        await using var imageFile = File.OpenRead(image);
        await using var diskFile = File.OpenRead(disk);
        if (diskFile.Length < manifest.ImageSize)
            throw new IOException($"the local disk {disk} ({diskFile.Length} bytes) is smaller than the image ({manifest.ImageSize} bytes)");
        var expected = new byte[manifest.ChunkSize];
        var actual = new byte[manifest.ChunkSize];
        long compared = 0, guestWritten = 0, differing = 0;
        var firstDiffering = new List<long>();
        for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
        {
            if (written[chunk])
            {
                guestWritten++;
                continue;
            }
            int length = manifest.ChunkLength(chunk);
            imageFile.Position = diskFile.Position = chunk * manifest.ChunkSize;
            await imageFile.ReadExactlyAsync(expected.AsMemory(0, length), ct);
            await diskFile.ReadExactlyAsync(actual.AsMemory(0, length), ct);
            compared++;
            if (!expected.AsSpan(0, length).SequenceEqual(actual.AsSpan(0, length)))
            {
                differing++;
                if (firstDiffering.Count < 16)
                    firstDiffering.Add(chunk);
            }
        }
        return new DiskComparison(compared, guestWritten, differing, firstDiffering);
    }
}
