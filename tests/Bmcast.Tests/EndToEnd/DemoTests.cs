using Bmcast.Tests.Support;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// The README's quick start, as a new user runs it: <c>bmcast demo</c> builds the tiny-payload OS (tiny plus data its
/// boot never reads), deploys it by copying and by streaming (real QEMU boots), pivots the running guest onto its
/// local disk (a failed pivot fails the demo), boots the deployed disk alone, and cleans up.
/// </summary>
public sealed class DemoTests
{
    [Fact]
    public async Task Quick_start_demo_deploys_a_real_os_both_ways_and_the_result_boots_alone()
    {
        // A temporary directory of its own: the bare-metal demo tests, which may run beside this one, make and keep
        // scratch directories of the same name in the shared one.
        using var temp = new TempDirectory();
        var (code, output, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(10), new Dictionary<string, string> { ["TMPDIR"] = temp.Path }, "demo");
        Assert.True(code == 0, $"bmcast demo failed ({code}):\n{output}\n{error}");
        Assert.Contains("bmcast demo: tiny-payload", output);
        Assert.Contains("time to ready", output);
        Assert.Contains("fetched before ready", output);
        Assert.Matches(@"pivot onto the local disk\W+-\W+\d+ ms", output);
        Assert.Contains("yes, ready in", output);
        Assert.Empty(Directory.GetDirectories(temp.Path, "bmcast-demo-*"));
    }
}
