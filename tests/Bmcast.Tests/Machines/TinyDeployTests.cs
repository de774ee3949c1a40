using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// The whole hosted job on the <c>tiny</c> sample image: <c>bmcast deploy</c> boots it from a slow
/// image server (2 MiB/s emulated link), the guest writes and syncs files while its disk still
/// streams, the deployment completes and pivots the running guest onto the target file, and the
/// target file alone then boots and finds every file intact.
/// </summary>
public sealed class TinyDeployTests
{
    [Fact]
    public async Task Guest_writes_made_while_streaming_survive_the_pivot_and_boot_from_the_target_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("qemu-system-x86_64");
        using var dir = new Bmcast.Tests.Nbd.TempDirectory();
        string image = dir.File("tiny.raw");
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(10), "image", "build", "tiny", "--output", image);
        Assert.True(code == 0, $"bmcast image build tiny failed: {error}");
        await using var rig = await DeploymentRig.StartAsync(image, "tiny", "--rate", "2M");
        string target = rig.Directory.File("target.raw");

        await using var deploy = rig.Track(BmcastProcess.Start("deploy", "--source", rig.SourceUri("tiny"), "--target", target,
            "--guest-mode", "write-test", "--known-keys", rig.Directory.File("known_keys"), "--json"));
        var ready = await deploy.WaitForEventAsync("ready", TimeSpan.FromMinutes(4));
        var pivoted = await deploy.WaitForEventAsync("pivoted", TimeSpan.FromMinutes(4));
        string console = await File.ReadAllTextAsync(target + ".console.log", ct);
        Assert.Contains("BMCAST-WRITES-DONE", console);
        Assert.True(ready.GetProperty("time").GetDouble() < pivoted.GetProperty("time").GetDouble(), "the guest was not ready before the copy completed");
        await deploy.StopAsync(TimeSpan.FromMinutes(1));

        var check = await ExternalTool.RunAsync(TimeSpan.FromMinutes(4), "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "512",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-drive", $"file={target},format=raw,if=virtio", "-smbios", "type=11,value=bmcast.mode=write-check");
        Assert.Contains("BMCAST-WRITES-OK", check.Output);
    }
}
