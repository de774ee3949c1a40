using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// The image server dies mid-deployment (SIGKILL) and comes back: a guest read that needs the
/// server waits through the outage and succeeds, and the deployment completes with the right bytes.
/// </summary>
public sealed class ServerRestartTests
{
    [Fact]
    public async Task Guest_reads_ride_out_a_server_restart_and_the_deployment_completes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var image = new byte[16 << 20];
        new Random(77).NextBytes(image);
        await File.WriteAllBytesAsync(scratch.File("image.raw"), image, ct);
        await File.WriteAllBytesAsync(scratch.File("tail.raw"), image[(12 << 20)..(13 << 20)], ct);
        await using var rig = await DeploymentRig.StartAsync(scratch.File("image.raw"), "disk");
        string target = rig.Directory.File("target.raw");
        string export = rig.Directory.File("agent.sock");
        var agent = await rig.StartAgentAsync("disk", target, export, "--bandwidth", "1M");

        await rig.Server.KillHardAsync();
        // A read of blocks that are not local yet: it must wait for the server, not fail.
        var read = ExternalTool.RunAsync(TimeSpan.FromMinutes(2), "qemu-img", "compare", "--image-opts",
            $"driver=raw,file.driver=nbd,file.path={export},file.export=,offset={12 << 20},size={1 << 20}",
            $"driver=raw,file.driver=file,file.filename={scratch.File("tail.raw")}");
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        if (read.IsCompleted)
        {
            var early = await read;
            Assert.Fail($"the read finished while the server was down: {early.Output}{early.Error}");
        }
        await rig.StartServerAsync();
        var result = await read;
        Assert.True(result.ExitCode == 0, $"read across the outage failed: {result.Output}{result.Error}");

        await agent.WaitForEventAsync("complete", TimeSpan.FromMinutes(2));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("reconnected", agent.Stderr);
        byte[] actual = await File.ReadAllBytesAsync(target, ct);
        Assert.True(image.AsSpan().SequenceEqual(actual), "target differs from the image");
    }
}
