namespace Bmcast.Tests.Machines;

/// <summary>
/// A pivot refused half-way in a real deploy of <c>tiny</c>: another program holds the target so QEMU may not write
/// it, and QEMU refuses the mirror after the pivot added its nodes. The deploy must not end under the healthy guest:
/// it reports <c>pivot-failed</c>, the guest runs on through the agent (it writes and syncs its files after), the
/// deploy stops cleanly when asked, and the target, which the agent wrote all along, boots alone with every file.
/// </summary>
public sealed class PivotFailureDeployTests
{
    [Fact]
    public async Task A_refused_pivot_leaves_the_guest_running_on_the_agent_and_the_target_whole()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        await using var rig = await WriteTestGuest.ServeTinyAsync(dir);
        string target = rig.Directory.File("target.raw");
        await File.WriteAllBytesAsync(target, [], ct);
        using var foreignLock = new ForeignTargetLock(target);

        var deploy = rig.Track(BmcastProcess.Start("deploy", "--source", rig.SourceUri("tiny"), "--target", target,
            "--guest-mode", "write-test", "--known-keys", rig.Directory.File("known_keys"), "--json"));
        var failed = await deploy.WaitForEventAsync("pivot-failed", TimeSpan.FromMinutes(4));
        Assert.Contains("write", failed.GetProperty("error").GetString());
        await WriteTestGuest.WaitForConsoleAsync(target + ".console.log", "BMCAST-WRITES-DONE", TimeSpan.FromMinutes(4));
        Assert.False(deploy.HasExited, $"the deploy ended under its guest; stderr:\n{deploy.Stderr}");
        Assert.DoesNotContain("\"machine-exited\"", deploy.Stdout);
        Assert.DoesNotContain("\"stopped\"", deploy.Stdout); // the agent still serves the guest

        Assert.Equal(0, await deploy.StopAsync(TimeSpan.FromMinutes(1)));
        Assert.DoesNotContain("\"pivoted\"", deploy.Stdout);
        foreignLock.Dispose();
        await WriteTestGuest.AssertTargetHasTheFilesAsync(target);
    }
}
