using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Machines;

/// <summary>
/// The <c>tiny</c> guest in mode <c>write-test</c> (writes and syncs files, then prints <c>BMCAST-WRITES-DONE</c>): its
/// image built and served, and the check that a finished target holds its files (<c>write-check</c>, booted alone).
/// </summary>
internal static class WriteTestGuest
{
    /// <summary>Build <c>tiny</c> (cached) and serve it from a rig in <paramref name="dir"/>; skips the test without QEMU.</summary>
    public static async Task<DeploymentRig> ServeTinyAsync(Bmcast.Tests.Support.TempDirectory dir, params string[] serveOptions) =>
        await DeploymentRig.StartAsync(await BuildTinyAsync(dir), "tiny", serveOptions);

    /// <summary>Build <c>tiny</c> (cached) into <paramref name="dir"/> and return its path; skips the test without QEMU.</summary>
    public static async Task<string> BuildTinyAsync(Bmcast.Tests.Support.TempDirectory dir)
    {
        ExternalTool.Require("qemu-system-x86_64");
        string image = dir.File("tiny.raw");
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(10), "image", "build", "tiny", "--output", image);
        Assert.True(code == 0, $"bmcast image build tiny failed: {error}");
        return image;
    }

    public static async Task WaitForConsoleAsync(string log, string marker, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(File.Exists(log) && (await File.ReadAllTextAsync(log)).Contains(marker, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"no {marker} on the guest console within {timeout}");
            await Task.Delay(200);
        }
    }

    /// <summary>Boot <paramref name="target"/> alone in <c>write-check</c> mode: it must find every file the guest wrote.</summary>
    public static async Task AssertTargetHasTheFilesAsync(string target)
    {
        var check = await ExternalTool.RunAsync(TimeSpan.FromMinutes(4), "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "512",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-drive", $"file={target},format=raw,if=virtio", "-smbios", "type=11,value=bmcast.mode=write-check");
        Assert.True(check.Output.Contains("BMCAST-WRITES-OK files=4", StringComparison.Ordinal), $"the target alone did not find the files: {check.Output}{check.Error}");
    }
}
