using Bmcast.Tests.Support;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// A boot profile kept with an image (<c>bmcast image profile</c>) is published by <c>bmcast serve</c>
/// as <c>profile:NAME</c> and picked up by every agent that streams the image.
/// </summary>
public sealed class BootProfilePublicationTests
{
    [Fact]
    public async Task Profile_kept_with_the_image_reaches_the_agent_through_the_server()
    {
        var ct = TestContext.Current.CancellationToken;
        using var scratch = new TempDirectory();
        var image = new byte[4 << 20];
        new Random(3).NextBytes(image);
        await File.WriteAllBytesAsync(scratch.File("image.raw"), image, ct);
        await File.WriteAllTextAsync(scratch.File("boot-profile"), "# bmcast boot profile v1\n40\n7\n12\n", ct);
        await using var rig = await DeploymentRig.StartAsync(scratch.File("image.raw"), "disk");

        var refused = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "profile", "disk", "--from", scratch.File("image.raw"), "--store", rig.Store);
        Assert.NotEqual(0, refused.ExitCode);
        var kept = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "profile", "disk", "--from", scratch.File("boot-profile"), "--store", rig.Store);
        Assert.True(kept.ExitCode == 0, kept.Error);

        var agent = await rig.StartAgentAsync("disk", rig.Directory.File("target.raw"), rig.Directory.File("agent.sock"));
        await agent.WaitForEventAsync("complete", TimeSpan.FromMinutes(1));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("prefetching 3 chunks of the boot profile first", agent.Stderr);
    }
}
