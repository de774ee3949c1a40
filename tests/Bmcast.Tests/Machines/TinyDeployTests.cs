using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// The whole hosted job on the <c>tiny</c> sample image: <c>bmcast deploy</c> boots it from a slow
/// image server (2 MiB/s emulated link), the deployment completes and pivots the running guest onto
/// the target file, the guest writes and syncs files (tiny's boot reads almost all of its data, so
/// the copy completes around the time it is ready: the writes land before or after the pivot),
/// and the target file alone then boots and finds every file intact.
/// </summary>
public sealed class TinyDeployTests
{
    [Fact]
    public async Task Guest_writes_survive_the_deployment_and_pivot_and_the_target_boots_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("qemu-system-x86_64");
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        string image = dir.File("tiny.raw");
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(10), "image", "build", "tiny", "--output", image);
        Assert.True(code == 0, $"bmcast image build tiny failed: {error}");
        await using var rig = await DeploymentRig.StartAsync(image, "tiny", "--rate", "2M");
        string target = rig.Directory.File("target.raw");

        var deploy = rig.Track(BmcastProcess.Start("deploy", "--source", rig.SourceUri("tiny"), "--target", target,
            "--guest-mode", "write-test", "--known-keys", rig.Directory.File("known_keys"), "--json"));
        await deploy.WaitForEventAsync("ready", TimeSpan.FromMinutes(4));
        await deploy.WaitForEventAsync("pivoted", TimeSpan.FromMinutes(4));
        await WaitForConsoleAsync(target + ".console.log", "BMCAST-WRITES-DONE", TimeSpan.FromMinutes(2));
        await deploy.StopAsync(TimeSpan.FromMinutes(1));

        var check = await ExternalTool.RunAsync(TimeSpan.FromMinutes(4), "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "512",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-drive", $"file={target},format=raw,if=virtio", "-smbios", "type=11,value=bmcast.mode=write-check");
        Assert.True(check.Output.Contains("BMCAST-WRITES-OK files=4", StringComparison.Ordinal), $"the target alone did not find the files: {check.Output}{check.Error}");
    }

    private static async Task WaitForConsoleAsync(string log, string marker, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(File.Exists(log) && (await File.ReadAllTextAsync(log)).Contains(marker, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"no {marker} on the guest console within {timeout}");
            await Task.Delay(200);
        }
    }
}
