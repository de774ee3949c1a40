using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// <c>bmcast deploy</c> boots a real, unmodified OS (the hypervisor's stand-in disk: OVMF, systemd-boot,
/// a Debian kernel and a busybox initramfs that prints BMCAST-READY and powers off) while its disk
/// streams through a deliberately slow background copy (512 KiB/s: the copy alone takes two minutes): the boot must not wait for the copy, its reads
/// are fetched on demand, and the deployment still completes with the target equal to the image.
/// </summary>
public sealed class DeployTests
{
    [Fact]
    public async Task Os_boots_through_streaming_before_the_copy_completes_and_the_target_ends_identical()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("qemu-system-x86_64");
        if (!File.Exists("/usr/share/ovmf/OVMF.fd"))
            Assert.Skip("OVMF is not installed (apt-get install ovmf)");
        string image = await VmmScripts.StandInDiskAsync();
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        string target = dir.File("target.raw");

        await using var deploy = BmcastProcess.Start("deploy", "--source", "file://" + image, "--target", target,
            "--firmware", "uefi", "--memory", "512M", "--bandwidth", "512K", "--json");
        var ready = await deploy.WaitForEventAsync("ready", TimeSpan.FromMinutes(4));
        long onDemand = ready.GetProperty("on_demand_bytes").GetInt64();
        long background = ready.GetProperty("background_bytes").GetInt64();
        long size = new FileInfo(image).Length;
        Assert.True(onDemand > 0, "the boot read nothing on demand");
        Assert.True(onDemand + background < size, $"the boot waited for the whole image: {onDemand} + {background} of {size} bytes");

        await deploy.WaitForEventAsync("machine-exited", TimeSpan.FromMinutes(2));
        await deploy.WaitForEventAsync("complete", TimeSpan.FromMinutes(5));
        // The guest is off and the copy complete: the deploy ends by itself (a SIGTERM here raced that exit and turned
        // its code into 143 once).
        Assert.Equal(0, await deploy.ExitCodeAsync(TimeSpan.FromMinutes(1)));
        byte[] expected = await File.ReadAllBytesAsync(image, ct);
        byte[] actual = await File.ReadAllBytesAsync(target, ct);
        Assert.True(expected.AsSpan().SequenceEqual(actual), "target differs from the image");
    }
}
