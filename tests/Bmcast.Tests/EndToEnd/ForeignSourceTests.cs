using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// Streaming from servers we did not write: nbdkit serves the raw image; the agent verifies it with
/// a manifest exported from our store, and refuses chunks whose bytes do not match it.
/// </summary>
public sealed class ForeignSourceTests
{
    [Fact]
    public async Task Nbdkit_source_streams_verified_with_a_manifest_file_and_never_writes_a_corrupt_chunk()
    {
        var ct = TestContext.Current.CancellationToken;
        string nbdkit = ExternalTool.Require("nbdkit");
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        var image = new byte[4 << 20];
        new Random(9).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, ct);
        string store = dir.File("store");
        await RunBmcastAsync("image", "import", dir.File("image.raw"), "--name", "img", "--store", store);
        await RunBmcastAsync("image", "manifest", "img", "--output", dir.File("img.manifest"), "--store", store);

        // The foreign server serves a copy whose chunk 5 has one flipped byte.
        var served = (byte[])image.Clone();
        served[5 * 65536 + 100] ^= 0xff;
        await File.WriteAllBytesAsync(dir.File("served.raw"), served, ct);
        await using var server = ExternalTool.StartBackground(nbdkit, "--foreground", "--exit-with-parent", "-U", dir.File("nbdkit.sock"), "file", dir.File("served.raw"));
        await server.WaitForSocketAsync(dir.File("nbdkit.sock"));

        await using var agent = BmcastProcess.Start("stream", "--source", $"nbd+unix:///?socket={dir.File("nbdkit.sock")}",
            "--target", dir.File("target.raw"), "--export", "unix:" + dir.File("agent.sock"), "--manifest", dir.File("img.manifest"),
            "--known-keys", dir.File("known_keys"), "--json");
        var started = await agent.WaitForEventAsync("started", TimeSpan.FromSeconds(60));
        Assert.True(started.GetProperty("verified").GetBoolean());

        string export = $"nbd+unix:///?socket={dir.File("agent.sock")}";
        // The good chunks before the bad one are read here, so they are on the target whether or not the idle-priority
        // copier got to them: in one CI run it copied nothing more for 3 minutes after the bad chunk (not understood yet).
        var good = await ExternalTool.RunAsync("qemu-io", "-f", "raw", "-r", "-c", $"read 0 {5 * 64}k", export);
        Assert.Equal(0, good.ExitCode);
        var bad = await ExternalTool.RunAsync("qemu-io", "-f", "raw", "-r", "-c", $"read {5 * 65536} 4k", export);
        Assert.Contains("Input/output error", bad.Output + bad.Error);

        // Raises a TimeoutException unless a progress event counts the refused chunk.
        await agent.WaitForEventAsync("progress", TimeSpan.FromSeconds(30), e => e.GetProperty("verification_failures").GetInt64() > 0);
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
        byte[] target = await File.ReadAllBytesAsync(dir.File("target.raw"), ct);
        Assert.False(target.AsSpan(5 * 65536, 65536).SequenceEqual(served.AsSpan(5 * 65536, 65536)), "the corrupt chunk reached the target");
        Assert.True(target.AsSpan(0, 5 * 65536).SequenceEqual(image.AsSpan(0, 5 * 65536)), "good chunks before the bad one differ");
        Assert.Contains("failed verification", agent.Stderr);
    }

    [Fact]
    public async Task A_required_key_refuses_a_server_without_a_manifest()
    {
        string nbdkit = ExternalTool.Require("nbdkit");
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        await File.WriteAllBytesAsync(dir.File("image.raw"), new byte[1 << 20], TestContext.Current.CancellationToken);
        await using var server = ExternalTool.StartBackground(nbdkit, "--foreground", "--exit-with-parent", "-U", dir.File("nbdkit.sock"), "file", dir.File("image.raw"));
        await server.WaitForSocketAsync(dir.File("nbdkit.sock"));

        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), "stream", "--source", $"nbd+unix:///?socket={dir.File("nbdkit.sock")}",
            "--target", dir.File("target.raw"), "--export", "unix:" + dir.File("agent.sock"), "--known-keys", dir.File("known_keys"),
            "--trust-key", new string('a', 64));

        Assert.Equal(1, code);
        Assert.Contains("--trust-key requires one: refusing to stream unverified", error);
    }

    private static async Task RunBmcastAsync(params string[] arguments)
    {
        var (code, output, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), arguments);
        Assert.True(code == 0, $"bmcast {string.Join(' ', arguments)} failed: {output}{error}");
    }
}
