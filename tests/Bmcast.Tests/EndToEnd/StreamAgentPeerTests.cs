using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// The streaming agent driven by real NBD clients (qemu-io, nbdcopy, qemu-img) through the real CLI
/// processes: writes survive SIGKILL of the agent, resume does not start over, and the completed
/// target is the image with the writes applied.
/// </summary>
public sealed class StreamAgentPeerTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Flushed_writes_through_the_export_survive_kill_9_and_the_deployment_resumes()
    {
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var image = new byte[24 << 20];
        var random = new Random(42);
        random.NextBytes(image.AsSpan(0, 16 << 20));          // data, then 8 MiB of zeroes
        string imagePath = scratch.File("image.raw");
        await File.WriteAllBytesAsync(imagePath, image, TestContext.Current.CancellationToken);
        await using var rig = await DeploymentRig.StartAsync(imagePath, "disk");
        string target = rig.Directory.File("target.raw");
        string export = rig.Directory.File("agent.sock");
        string exportUri = $"nbd+unix:///?socket={export}";

        // A slow background copy keeps the deployment unfinished while the guest writes.
        var agent = await rig.StartAgentAsync("disk", target, export, "--bandwidth", "256K");
        await ExternalTool.RunCheckedAsync("qemu-io", "-f", "raw",
            "-c", "write -P 0xab 1M 64k", "-c", "write -P 0xcd 20M 8k", "-c", "write -P 0xef 12345 1000", "-c", "flush", exportUri);
        await agent.KillHardAsync();

        var resumed = await rig.StartAgentAsync("disk", target, export);
        var complete = await resumed.WaitForEventAsync("complete", Long);
        await ExternalTool.RunCheckedAsync("qemu-io", "-f", "raw", "-r",
            "-c", "read -P 0xab 1M 64k", "-c", "read -P 0xcd 20M 8k", "-c", "read -P 0xef 12345 1000", exportUri);
        Assert.Equal(0, await resumed.StopAsync(TimeSpan.FromSeconds(30)));

        // Resume fetched only what was still absent: never more than the image's non-zero data.
        long fetched = complete.GetProperty("on_demand_bytes").GetInt64() + complete.GetProperty("background_bytes").GetInt64();
        Assert.True(fetched <= 16 << 20, $"resumed agent fetched {fetched} bytes");

        image.AsSpan(1 << 20, 64 << 10).Fill(0xab);
        image.AsSpan(20 << 20, 8 << 10).Fill(0xcd);
        image.AsSpan(12345, 1000).Fill(0xef);
        byte[] actual = await File.ReadAllBytesAsync(target, TestContext.Current.CancellationToken);
        Assert.True(image.AsSpan().SequenceEqual(actual), "target differs from the image with the guest's writes applied");
    }
}
