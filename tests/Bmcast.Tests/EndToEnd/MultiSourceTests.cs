using System.Text.Json;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// An agent with several <c>bmcast serve</c> processes as sources (issue 14, deliverable 3), the real CLI on both
/// sides: fetches are spread over both, a server killed mid-stream is marked down and the deployment completes from the
/// other with no guest I/O error; a server of another image is refused at start; a server of a damaged store (wrong
/// bytes) is dropped and nothing it served is written.
/// </summary>
public sealed class MultiSourceTests
{
    private const int Size = 16 << 20;
    private const int ChunkSize = 65536;
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 900_000)]
    public async Task Both_servers_serve_and_when_one_is_killed_the_deployment_completes_from_the_other_without_a_guest_error()
    {
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var (image, rig) = await StartRigAsync(scratch, 80);
        await using var serving = rig;
        var (second, sources) = await StartSecondServerAsync(rig, rig.Store);
        string target = rig.Directory.File("target.raw"), export = rig.Directory.File("agent.sock");
        // Held to 1 MiB/s, the copy is early on when the second server dies.
        var agent = await rig.StartAgentAsync(sources, target, export, "--bandwidth", "1M");

        await agent.WaitForEventAsync("progress", Step, e => SourcesOf(e).All(s => s.Bytes > 0));
        await second.KillHardAsync();
        // The guest reads the whole disk while the second server is gone: every read is answered, with the image's bytes.
        var read = await ExternalTool.RunAsync(Step, "qemu-img", "compare", "--image-opts",
            $"driver=raw,file.driver=nbd,file.path={export},file.export=", $"driver=raw,file.driver=file,file.filename={scratch.File("image.raw")}");
        Assert.True(read.ExitCode == 0, $"a guest read failed or differed with one server down: {read.Output}{read.Error}\n{agent.Stderr}");

        var complete = await agent.WaitForEventAsync("complete", Step);
        var tallies = SourcesOf(complete);
        Assert.Equal(sources, tallies.Select(s => s.Uri));
        Assert.Equal(("ok", "down"), (tallies[0].State, tallies[1].State));
        Assert.True(tallies.All(s => s.Bytes > 0), complete.ToString());
        Assert.Equal(Size, tallies.Sum(s => s.Bytes));
        Assert.Equal(0, await agent.StopAsync(Step));
        Assert.Contains($"source {sources[1]} is down", agent.Stderr);
        var streamed = await File.ReadAllBytesAsync(target, Ct);
        Assert.True(image.AsSpan().SequenceEqual(streamed), "the target differs from the image");
    }

    [Fact(Timeout = 900_000)]
    public async Task A_killed_server_that_returns_is_probed_back_and_serves_again()
    {
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var (image, rig) = await StartRigAsync(scratch, 84);
        await using var serving = rig;
        var (second, sources) = await StartSecondServerAsync(rig, rig.Store);
        string target = rig.Directory.File("target.raw");
        // Held to 512 KiB/s, the copy (32 s) outlasts the outage.
        var agent = await rig.StartAgentAsync(sources, target, rig.Directory.File("agent.sock"), "--bandwidth", "512K");

        await agent.WaitForEventAsync("progress", Step, e => SourcesOf(e)[1].Bytes > 0);
        await second.KillHardAsync();
        var down = await agent.WaitForEventAsync("progress", Step, e => SourcesOf(e)[1].State == "down");
        long before = SourcesOf(down)[1].Bytes;
        await rig.StartServerAsync(rig.Store, SecondSocket(rig));
        // Its probe reconnects (the manifest root checked again) and fetches go to it again.
        await agent.WaitForEventAsync("progress", Step, e => SourcesOf(e)[1] is { State: "ok" } back && back.Bytes > before);

        await agent.WaitForEventAsync("complete", Step);
        Assert.Equal(0, await agent.StopAsync(Step));
        Assert.Contains($"source {sources[1]} answers again", agent.Stderr);
        var streamed = await File.ReadAllBytesAsync(target, Ct);
        Assert.True(image.AsSpan().SequenceEqual(streamed), "the target differs from the image");
    }

    [Theory]
    [InlineData("file:///a.raw", "file:///b.raw", "only NBD sources")]
    [InlineData("nbd://127.0.0.1:1/img", "nbd://127.0.0.1:1/img", "is given 2 times")]
    public async Task Sources_that_cannot_be_combined_are_refused_before_connecting(string first, string second, string why)
    {
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var (code, _, error) = await BmcastProcess.RunAsync(Step, "stream", "--source", first, "--source", second,
            "--target", scratch.File("target.raw"), "--export", "unix:" + scratch.File("agent.sock"), "--known-keys", scratch.File("known_keys"));
        Assert.True(code == 1, $"exit {code}: {error}");
        Assert.Contains(why, error);
        Assert.False(File.Exists(scratch.File("target.raw.bmcast-state")), "a deployment was started");
    }

    [Fact(Timeout = 600_000)]
    public async Task A_server_of_another_image_is_refused_at_start_naming_both_sources()
    {
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        await WriteImageAsync(scratch.File("other.raw"), 82);
        var (_, rig) = await StartRigAsync(scratch, 81);
        await using var serving = rig;
        var (imported, _, importError) = await BmcastProcess.RunAsync(Step, "image", "import", scratch.File("other.raw"), "--name", "other", "--store", rig.Store);
        Assert.True(imported == 0, importError);
        await rig.StartServerAsync(rig.Store, SecondSocket(rig));
        string first = rig.SourceUri("img"), other = rig.SourceUri("other", SecondSocket(rig));
        string target = rig.Directory.File("target.raw");

        var (code, _, error) = await BmcastProcess.RunAsync(Step, "stream", "--source", first, "--source", other, "--target", target,
            "--export", "unix:" + rig.Directory.File("agent.sock"), "--known-keys", rig.Directory.File("known_keys"), "--json");

        Assert.True(code == 1, $"exit {code}: {error}");
        Assert.Contains("serve different images", error);
        Assert.Contains(first, error);
        Assert.Contains(other, error);
        Assert.False(File.Exists(target + ".bmcast-state"), "a deployment was started");
    }

    [Fact(Timeout = 900_000)]
    public async Task A_server_of_a_damaged_store_is_dropped_and_the_deployment_completes_from_the_other()
    {
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var (image, rig) = await StartRigAsync(scratch, 83);
        await using var serving = rig;
        string damaged = rig.Directory.File("damaged-store");
        CopyDirectory(rig.Store, damaged);
        int flipped = DamageEveryChunk(damaged);
        Assert.Equal(Size / ChunkSize, flipped);
        var (_, sources) = await StartSecondServerAsync(rig, damaged);
        string target = rig.Directory.File("target.raw");

        var agent = await rig.StartAgentAsync(sources, target, rig.Directory.File("agent.sock"));
        var complete = await agent.WaitForEventAsync("complete", Step);

        Assert.True(complete.GetProperty("verification_failures").GetInt64() > 0, complete.ToString());
        var tallies = SourcesOf(complete);
        Assert.Equal((Size, 0L), (tallies[0].Bytes, tallies[1].Bytes));
        Assert.Equal(0, await agent.StopAsync(Step));
        Assert.Contains($"source {sources[1]} is down (chunk", agent.Stderr);
        var streamed = await File.ReadAllBytesAsync(target, Ct);
        Assert.True(image.AsSpan().SequenceEqual(streamed), "the target differs from the image");
    }

    private static (string Uri, long Bytes, string State)[] SourcesOf(JsonElement e) =>
        [.. e.GetProperty("sources").EnumerateArray().Select(s => (s.GetProperty("uri").GetString()!, s.GetProperty("bytes").GetInt64(), s.GetProperty("state").GetString()!))];

    /// <summary>A second <c>bmcast serve</c>, of <paramref name="store"/>, and the URIs of <c>img</c> on both servers.</summary>
    private static async Task<(BmcastProcess Second, string[] Sources)> StartSecondServerAsync(DeploymentRig rig, string store)
    {
        var second = await rig.StartServerAsync(store, SecondSocket(rig));
        return (second, [rig.SourceUri("img"), rig.SourceUri("img", SecondSocket(rig))]);
    }

    private static string SecondSocket(DeploymentRig rig) => rig.Directory.File("second.sock");

    /// <summary>A random image of <see cref="Size"/> bytes (from <paramref name="seed"/>) imported as <c>img</c> and served.</summary>
    private static async Task<(byte[] Image, DeploymentRig Rig)> StartRigAsync(Bmcast.Tests.Support.TempDirectory scratch, int seed)
    {
        var image = await WriteImageAsync(scratch.File("image.raw"), seed);
        return (image, await DeploymentRig.StartAsync(scratch.File("image.raw"), "img"));
    }

    private static async Task<byte[]> WriteImageAsync(string path, int seed)
    {
        var image = new byte[Size];
        new Random(seed).NextBytes(image);
        await File.WriteAllBytesAsync(path, image, Ct);
        return image;
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (string directory in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, directory)));
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    /// <summary>Flips one byte in every chunk of the store's packs (after the 4 KiB header, chunks of 64 KiB): the indexes stay valid.</summary>
    private static int DamageEveryChunk(string store)
    {
        int flipped = 0;
        foreach (string pack in Directory.GetFiles(Path.Combine(store, "packs"), "*.pack"))
        {
            using var file = File.Open(pack, FileMode.Open, FileAccess.ReadWrite);
            var one = new byte[1];
            for (long at = 4096 + 1000; at < file.Length; at += ChunkSize, flipped++)
            {
                RandomAccess.Read(file.SafeFileHandle, one, at);
                one[0] ^= 0x5a;
                RandomAccess.Write(file.SafeFileHandle, one, at);
            }
        }
        return flipped;
    }
}
