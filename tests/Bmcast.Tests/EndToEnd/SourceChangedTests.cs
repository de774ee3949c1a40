using Bmcast.Tests.Support;
using Bmcast.TestKit.Processes;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// An image replaced behind its name mid-stream (issue 15, defect 7: <c>image import --force</c> and a server restart
/// made the agent retry failing chunks about 16 times a second without ever saying why). Now the agent compares the
/// manifest root on reconnect, says once that the source serves another image (a log line and a
/// <c>source-changed</c> event), fetches nothing more from it, and the deployment resumes once the source serves the
/// deployment's image again.
/// </summary>
public sealed class SourceChangedTests
{
    private const int Size = 16 << 20;
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 600_000)]
    public async Task A_replaced_image_is_named_once_nothing_more_is_fetched_and_the_deployment_resumes()
    {
        using var scratch = new TempDirectory();
        string original = scratch.File("original.raw"), replacement = scratch.File("replacement.raw");
        var image = new byte[Size];
        new Random(70).NextBytes(image);
        await File.WriteAllBytesAsync(original, image, Ct);
        var other = new byte[Size];
        new Random(71).NextBytes(other);
        await File.WriteAllBytesAsync(replacement, other, Ct);
        await using var rig = await DeploymentRig.StartAsync(original, "img");
        string target = rig.Directory.File("target.raw");
        // Held to 512 KiB/s, the copy is mid-way when the image is replaced.
        var agent = await rig.StartAgentAsync("img", target, rig.Directory.File("agent.sock"), "--bandwidth", "512K");

        await rig.Server.KillHardAsync();
        await Import(rig, replacement);
        await rig.StartServerAsync();
        var changed = await agent.WaitForEventAsync("source-changed", Step);
        Assert.NotEqual(changed.GetProperty("expected_root").GetString(), changed.GetProperty("served_root").GetString());
        // Named once (the copier's pause lines quote it, at most one per pass), however often the copier tries again;
        // nothing is fetched from the source after, so no chunk fails verification.
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        Assert.False(agent.HasExited, $"the agent ended: {agent.Stderr}");
        Assert.True(agent.Stderr.Split('\n').Count(line => line.Contains(" fail: ") && line.Contains("now serves a different image")) == 1, agent.Stderr);
        Assert.DoesNotContain("failed verification", agent.Stderr);
        Assert.Equal(0, await agent.StopAsync(Step));

        // The operator puts the deployment's image back: the same target and state file resume and complete.
        await rig.Server.KillHardAsync();
        await Import(rig, original);
        await rig.StartServerAsync();
        var resumed = rig.Track(BmcastProcess.Start("stream", "--source", rig.SourceUri("img"), "--target", target,
            "--export", "unix:" + rig.Directory.File("again.sock"), "--known-keys", rig.Directory.File("known_keys"), "--json"));
        Assert.True((await resumed.WaitForEventAsync("started", Step)).GetProperty("resumed").GetBoolean());
        await resumed.WaitForEventAsync("complete", Step);
        var streamed = await File.ReadAllBytesAsync(target, Ct);
        Assert.True(image.AsSpan().SequenceEqual(streamed), "the resumed target differs from the image");
    }

    private static async Task Import(DeploymentRig rig, string path)
    {
        var (code, _, error) = await BmcastProcess.RunAsync(Step, "image", "import", path, "--name", "img", "--force", "--store", rig.Store);
        Assert.True(code == 0, $"import --force failed: {error}");
    }
}
