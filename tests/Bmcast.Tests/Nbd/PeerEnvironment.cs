using Bmcast.Tests.Support;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// A temp directory with a partly sparse source image, and our server exporting it over TCP or a unix socket:
/// <list type="bullet">
/// <item><c>disk</c>: the source file, read-only (listed);</item>
/// <item><c>scratch</c>: a writable, initially empty file of the same size (listed);</item>
/// <item><c>sparse</c>: the source bytes in memory, reporting zero blocks as holes (listed);</item>
/// <item><c>manifest:disk</c>: a small read-only file (hidden).</item>
/// </list>
/// </summary>
internal sealed class PeerEnvironment : IAsyncDisposable
{
    public const long ImageSize = 4 << 20;
    public static readonly byte[] ManifestBytes = "BMCMAN01 pretend manifest"u8.ToArray();

    private PeerEnvironment(TempDirectory directory, byte[] image, TestServer server)
    {
        Directory = directory;
        Image = image;
        Server = server;
    }

    public TempDirectory Directory { get; }

    /// <summary>The source image's bytes: data at [0, 1 MiB) and [2 MiB, 2.5 MiB), zeroes elsewhere.</summary>
    public byte[] Image { get; }

    public string ImagePath => Directory.File("image.raw");

    public string ScratchPath => Directory.File("scratch.raw");

    public TestServer Server { get; }

    public static async Task<PeerEnvironment> StartAsync(bool unixSocket, NbdServerOptions? options = null)
    {
        var directory = new TempDirectory();
        var image = CreateImage();
        WriteSparse(directory.File("image.raw"), image);
        File.WriteAllBytes(directory.File("manifest.bin"), ManifestBytes);
        using (var scratch = File.Create(directory.File("scratch.raw")))
            scratch.SetLength(ImageSize);

        var catalog = new TestCatalog()
            .Add("disk", () => FileBlockDevice.Open(directory.File("image.raw"), writable: false), "the source image")
            .Add("scratch", () => FileBlockDevice.Open(directory.File("scratch.raw"), writable: true), "a writable target")
            .Add("sparse", () => new MemoryBlockDevice(image, writable: false), "in memory, with holes")
            .Add(ExportNames.ManifestOf("disk"), () => FileBlockDevice.Open(directory.File("manifest.bin"), writable: false), hidden: true);
        var server = await TestServer.StartAsync(catalog, unixSocket ? directory.File("nbd.sock") : null, options);
        return new PeerEnvironment(directory, image, server);
    }

    /// <summary>Random data (fixed seed) in two regions, zeroes elsewhere.</summary>
    public static byte[] CreateImage()
    {
        var image = new byte[ImageSize];
        var random = new Random(1234);
        random.NextBytes(image.AsSpan(0, 1 << 20));
        random.NextBytes(image.AsSpan(2 << 20, 512 << 10));
        return image;
    }

    /// <summary>Write only the non-zero 64 KiB pieces so the file has real holes for peers that look.</summary>
    public static void WriteSparse(string path, byte[] image)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        file.SetLength(image.Length);
        const int piece = 64 << 10;
        for (int at = 0; at < image.Length; at += piece)
        {
            var bytes = image.AsSpan(at, Math.Min(piece, image.Length - at));
            if (bytes.ContainsAnyExcept((byte)0))
            {
                file.Position = at;
                file.Write(bytes);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Directory.Dispose();
    }
}
