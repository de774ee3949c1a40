using Bmcast.Tests.Support;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Client;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>Our client against real servers: nbdkit, qemu-nbd and nbd-server, each on a unix socket.</summary>
public sealed class NbdClientPeerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task Reads_from_nbdkit_with_block_status()
    {
        using var directory = new TempDirectory();
        var (image, path) = CreateImage(directory);
        string socket = directory.File("nbdkit.sock");
        await using var nbdkit = ExternalTool.StartBackground("nbdkit", "--foreground", "--readonly", "--unix", socket, "file", path);
        await nbdkit.WaitForSocketAsync(socket);

        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse($"nbd+unix:///?socket={socket}"), Ct);
        await AssertReadsImageAsync(client, image);

        Assert.True(client.Export.BlockStatus);
        var extents = await client.BlockStatusAsync(0, client.Size, Ct);
        Assert.InRange(extents.Sum(e => e.Length), 1, client.Size);
        Assert.Equal(AllocationFlags.Allocated, extents[0].Flags);
    }

    [Fact(Timeout = 30_000)]
    public async Task Reads_from_qemu_nbd_including_hole_chunks()
    {
        using var directory = new TempDirectory();
        var (image, path) = CreateImage(directory);
        string socket = directory.File("qemu-nbd.sock");
        await using var qemuNbd = ExternalTool.StartBackground("qemu-nbd", "--read-only", "--persistent", "--format=raw",
            "--shared=4", "--export-name=disk", "--socket=" + socket, path);
        await qemuNbd.WaitForSocketAsync(socket);

        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse($"nbd+unix:///disk?socket={socket}"), Ct);
        Assert.True(client.Export is { IsReadOnly: true, StructuredReplies: true });
        await AssertReadsImageAsync(client, image);
        var exports = await NbdClient.ListExportsAsync(Bmcast.Protocols.Nbd.NbdEndpoint.Unix(socket), Ct);
        Assert.Equal(["disk"], exports.Select(e => e.Name));
    }

    [Fact(Timeout = 30_000)]
    public async Task Reads_from_nbd_server()
    {
        using var directory = new TempDirectory();
        var (image, path) = CreateImage(directory);
        string socket = directory.File("nbd-server.sock");
        string config = directory.File("nbd-server.conf");
        File.WriteAllText(config, $"""
            [generic]
                unixsock = {socket}
                allowlist = true
            [disk]
                exportname = {path}
                readonly = true
            """);
        await using var nbdServer = ExternalTool.StartBackground("nbd-server", "-C", config, "-d");
        // Not WaitForSocketAsync: with -d nbd-server serves one connection, which a probe would use up.
        await nbdServer.WaitUntilAsync(() => File.Exists(socket), "its socket");

        await using var client = await NbdClient.ConnectAsync(NbdUri.Parse($"nbd+unix:///disk?socket={socket}"), Ct);
        Assert.True(client.Export.IsReadOnly);
        await AssertReadsImageAsync(client, image);
    }

    private static (byte[] Image, string Path) CreateImage(TempDirectory directory)
    {
        var image = PeerEnvironment.CreateImage();
        string path = directory.File("image.raw");
        PeerEnvironment.WriteSparse(path, image);
        return (image, path);
    }

    /// <summary>The whole image in one call (split by the client), then many small concurrent reads.</summary>
    private static async Task AssertReadsImageAsync(NbdClient client, byte[] image)
    {
        Assert.Equal(image.Length, client.Size);
        var whole = new byte[image.Length];
        await client.ReadAsync(0, whole, Ct);
        Assert.Equal(image, whole);

        var random = new Random(99);
        var reads = Enumerable.Range(0, 64).Select(_ => (Offset: random.Next(image.Length - 70_000), Length: random.Next(1, 70_000))).ToList();
        await Task.WhenAll(reads.Select(async r =>
        {
            var buffer = new byte[r.Length];
            await client.ReadAsync(r.Offset, buffer, Ct);
            Assert.True(image.AsSpan(r.Offset, r.Length).SequenceEqual(buffer), $"read at {r.Offset}+{r.Length} differs");
        }));
    }
}
