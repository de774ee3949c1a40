using Bmcast.Tests.Images;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.ObjectStore;

/// <summary>
/// The CLI on a bucket of a real Ceph RGW, with credentials only in the standard AWS environment: <c>image import</c>
/// creates the bucket, <c>ls</c>/<c>inspect</c>/<c>verify</c> read it, and two stateless <c>bmcast serve</c> processes
/// on it serve the image to nbdcopy, equal to the source; an image imported afterwards is served by both at once,
/// without a restart.
/// </summary>
public sealed class ObjectStoreServeTests(SharedCephRgw ceph) : IClassFixture<SharedCephRgw>, IDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _scratch = new();

    [Fact]
    public async Task Two_servers_on_one_bucket_serve_the_same_images_and_pick_up_a_new_import_without_a_restart()
    {
        ExternalTool.Require("nbdcopy");
        var rgw = await ceph.StartAsync();
        string store = $"s3://{SharedCephRgw.NewBucket()}/{SharedCephRgw.Prefix}";
        var first = new SparseImage(_scratch.File("first.raw"), 8L << 20, seed: 3).Data(0, 1 << 20).Data(5 << 20, 3 << 19);
        var second = new SparseImage(_scratch.File("second.raw"), 4L << 20, seed: 4).Data(1 << 20, 1 << 20);

        string imported = await BmcastAsync(rgw, "image", "import", first.Path, "--name", "first", "--store", store);
        Assert.Contains("imported first", imported);
        Assert.Contains("first", await BmcastAsync(rgw, "image", "ls", "--store", store));
        Assert.Contains(store, await BmcastAsync(rgw, "image", "inspect", "first", "--store", store));
        Assert.Contains("first: OK", await BmcastAsync(rgw, "image", "verify", "first", "--store", store));

        string socketA = _scratch.File("a.sock"), socketB = _scratch.File("b.sock");
        await using var serverA = Serve(rgw, store, socketA);
        await using var serverB = Serve(rgw, store, socketB);
        await serverA.WaitForSocketAsync(socketA);
        await serverB.WaitForSocketAsync(socketB);
        await AssertCopyEqualsAsync(socketA, "first", first);
        await AssertCopyEqualsAsync(socketB, "first", first);

        await BmcastAsync(rgw, "image", "import", second.Path, "--name", "second", "--store", store);
        await AssertCopyEqualsAsync(socketB, "second", second);
        await AssertCopyEqualsAsync(socketA, "second", second);
        await AssertCopyEqualsAsync(socketA, "first", first); // from the warm cache now
    }

    [Fact]
    public async Task A_chunk_damaged_in_the_bucket_is_never_served_so_a_streaming_agent_never_writes_it()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("qemu-io");
        var rgw = await ceph.StartAsync();
        string bucket = SharedCephRgw.NewBucket();
        string store = $"s3://{bucket}/{SharedCephRgw.Prefix}";
        var image = new SparseImage(_scratch.File("disk.raw"), 1L << 20, seed: 5).Data(0, 1 << 20);
        await BmcastAsync(rgw, "image", "import", image.Path, "--name", "disk", "--store", store);
        using (var local = SharedCephRgw.Open(rgw, bucket, _scratch.File("unused.key")))
            await SharedCephRgw.CorruptChunkAsync(rgw, bucket, local, "disk", 5, ct);

        string socket = _scratch.File("serve.sock");
        await using var server = Serve(rgw, store, socket);
        await server.WaitForSocketAsync(socket);
        await using var agent = BmcastProcess.Start("stream", "--source", $"nbd+unix:///disk?socket={socket}", "--target", _scratch.File("target.raw"),
            "--export", "unix:" + _scratch.File("agent.sock"), "--known-keys", _scratch.File("known_keys"), "--json");
        Assert.True((await agent.WaitForEventAsync("started", TimeSpan.FromSeconds(90))).GetProperty("verified").GetBoolean());

        string export = $"nbd+unix:///?socket={_scratch.File("agent.sock")}";
        Assert.Equal(0, (await ExternalTool.RunAsync(TimeSpan.FromMinutes(1), "qemu-io", "-f", "raw", "-r", "-c", "read 0 64k", export)).ExitCode);
        var bad = await ExternalTool.RunAsync(TimeSpan.FromMinutes(1), "qemu-io", "-f", "raw", "-r", "-c", $"read {5 * 65536} 4k", export);
        Assert.Contains("Input/output error", bad.Output + bad.Error);
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(60)));

        byte[] target = await File.ReadAllBytesAsync(_scratch.File("target.raw"), ct);
        Assert.True(target.AsSpan(0, 65536).SequenceEqual(image.Content[..65536]), "a good chunk differs on the target");
        byte[] damaged = image.Content.Slice(5 * 65536, 65536).ToArray();
        damaged[100] ^= 0x40; // as CorruptChunkAsync left it in the bucket
        Assert.False(target.AsSpan(5 * 65536, 65536).SequenceEqual(damaged), "the damaged chunk reached the target");
    }

    private ExternalTool.BackgroundProcess Serve(CephRgw rgw, string store, string socket) =>
        ExternalTool.StartBackground("env", [.. SharedCephRgw.Environment(rgw, _scratch.File("data")),
            "dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"), "serve", "--store", store, "--nbd", "unix:" + socket, "--cache-size", "4M"]);

    private async Task<string> BmcastAsync(CephRgw rgw, params string[] arguments) =>
        await ExternalTool.RunCheckedAsync(CommandTimeout, "env", [.. SharedCephRgw.Environment(rgw, _scratch.File("data")),
            "dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"), .. arguments]);

    private async Task AssertCopyEqualsAsync(string socket, string export, SparseImage expected)
    {
        string copy = _scratch.File($"{export}-{Guid.NewGuid():N}.raw");
        await ExternalTool.RunCheckedAsync(CommandTimeout, "nbdcopy", $"nbd+unix:///{export}?socket={socket}", copy);
        Assert.True(File.ReadAllBytes(copy).AsSpan().SequenceEqual(expected.Content), $"{export} copied from {socket} differs from its source");
        File.Delete(copy);
    }

    public void Dispose() => _scratch.Dispose();
}
