using System.Security.Cryptography;
using Bmcast.Agent.Streaming;
using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;
using Bmcast.TestKit.Devices;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// The streaming export's <c>base:allocation</c>, as <c>nbdinfo --map</c> sees it: zero holes where the image has
/// zero chunks, before they are fetched (from the manifest) and after (from the target file's holes), and data where
/// the guest wrote, even into a zero chunk.
/// </summary>
public sealed class StreamingExportMapTests
{
    private const int ChunkSize = 64 << 10;
    private const int Chunks = 16;
    private const int Data = 0;
    private const int ZeroHole = 3;

    [Fact(Timeout = 60_000)]
    public async Task Nbdinfo_maps_the_image_zero_chunks_as_holes_before_and_after_they_are_fetched()
    {
        ExternalTool.Require("nbdinfo");
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory();
        // Chunks 0-3 and 12-15 hold data; 4-11 are all zero.
        var image = new byte[Chunks * ChunkSize];
        Random.Shared.NextBytes(image.AsSpan(0, 4 * ChunkSize));
        Random.Shared.NextBytes(image.AsSpan(12 * ChunkSize));
        var geometry = new DiskGeometry(image.Length);
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(geometry)), geometry, new byte[32], ct);
        await using var target = FileBlockDevice.OpenOrCreate(dir.File("target.raw"), image.Length);
        var disk = new StreamingDisk(geometry, new MemoryImageSource(image, "memory"), ManifestOf(image), target, state,
            new StreamingOptions(), NullLogger.Instance);
        await using var server = await TestServer.StartAsync(new SingleExportCatalog("disk", "streaming", disk));
        (long, long, int)[] imageMap = [(0, 4 * ChunkSize, Data), (4 * ChunkSize, 8 * ChunkSize, ZeroHole), (12 * ChunkSize, 4 * ChunkSize, Data)];

        Assert.Equal(imageMap, await MapAsync(server));

        var copy = new byte[image.Length];
        await disk.ReadAsync(0, copy, ct);
        Assert.True(disk.Presence.IsComplete);
        Assert.Equal(image, copy);
        Assert.Equal(imageMap, await MapAsync(server));

        await disk.WriteAsync(8 * ChunkSize, new byte[4096].Select(_ => (byte)1).ToArray(), forceUnitAccess: false, ct);
        Assert.Equal([(0, 4 * ChunkSize, Data), (4 * ChunkSize, 4 * ChunkSize, ZeroHole), (8 * ChunkSize, 4096, Data),
            (8 * ChunkSize + 4096, 4 * ChunkSize - 4096, ZeroHole), (12 * ChunkSize, 4 * ChunkSize, Data)], await MapAsync(server));
    }

    private static async Task<(long, long, int)[]> MapAsync(TestServer server)
    {
        string output = await ExternalTool.RunCheckedAsync("nbdinfo", "--map", server.Uri("disk"));
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => (long.Parse(f[0]), long.Parse(f[1]), int.Parse(f[2]))).ToArray();
    }

    private static Manifest ManifestOf(byte[] image)
    {
        var zero = new bool[Chunks];
        var hashes = new byte[Chunks * Manifest.HashSize];
        for (int chunk = 0; chunk < Chunks; chunk++)
        {
            var data = image.AsSpan(chunk * ChunkSize, ChunkSize);
            zero[chunk] = !data.ContainsAnyExcept((byte)0);
            SHA256.HashData(data, hashes.AsSpan(chunk * Manifest.HashSize));
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Manifest.Create(image.Length, ChunkSize, zero, hashes, key);
    }
}
