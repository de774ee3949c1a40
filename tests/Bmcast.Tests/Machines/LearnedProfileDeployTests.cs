using Bmcast.Engine;
using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// A learned boot profile used by default, end to end on <c>tiny</c> (TCG): the first <c>bmcast deploy</c> of the image
/// records its profile and, once the guest is ready, offers it to <c>bmcast serve</c>, which keeps it with the image
/// with no operator step; the second deployment, onto a fresh target, prefetches it. The server's link is 2 MiB/s, so
/// the boot waits for chunks (a profile of on-demand fetches) rather than finding them copied.
/// </summary>
public sealed class LearnedProfileDeployTests
{
    private static readonly TimeSpan DeployTimeout = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task The_second_deployment_prefetches_the_profile_the_first_one_recorded()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        await using var rig = await WriteTestGuest.ServeTinyAsync(dir, "--rate", "2M");

        var first = StartDeploy(rig, "first.raw");
        await first.WaitForEventAsync("ready", DeployTimeout);
        await WaitForAsync(() => rig.Server.Stderr.Contains("learned the boot profile of tiny from a deployment", StringComparison.Ordinal), "the server to learn the profile");
        Assert.Contains("offered the boot profile", first.Stderr);
        int recorded = BootProfile.Parse(await File.ReadAllTextAsync(rig.Directory.File("first.raw.boot-profile"), ct), long.MaxValue).Count;
        Assert.True(recorded > 0, "the first boot waited for no chunk");
        await first.StopAsync(TimeSpan.FromMinutes(1));

        var second = StartDeploy(rig, "second.raw");
        await second.WaitForEventAsync("ready", DeployTimeout);
        Assert.Matches(@"prefetching [1-9][0-9]* chunks of the boot profile first", second.Stderr);
        Assert.DoesNotContain("offered the boot profile", second.Stderr); // the server published one: nothing to offer
        await second.StopAsync(TimeSpan.FromMinutes(1));
    }

    /// <summary>
    /// A deploy whose background copy is capped, so the disk is not pivoted away from the agent before ready (the whole
    /// boot is recorded); it is stopped once it has done its part rather than left to finish the copy at that pace.
    /// </summary>
    private static BmcastProcess StartDeploy(DeploymentRig rig, string target) =>
        rig.Track(BmcastProcess.Start("deploy", "--source", rig.SourceUri("tiny"), "--target", rig.Directory.File(target), "--bandwidth", "64K",
            "--guest-mode", "poweroff", "--known-keys", rig.Directory.File("known_keys"), "--json"));

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(200);
        }
    }
}
