using Bmcast.Machines.Qemu;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.OsImages;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// The network-boot baseline: Debian's iPXE (<c>ipxe.lkrn</c> from the <c>ipxe</c> package, run by QEMU as a kernel
/// with a script as its initrd) does <c>sanboot aoe:e0.0</c> against <c>bmcast serve --aoe</c>, and the tiny image's
/// boot loader, kernel and initramfs come over AoE through iPXE's INT 13h disk. Once Linux runs, INT 13h is gone:
/// tiny's initramfs finds no local disk, loads virtio_net and the kernel's aoe driver, and mounts its root read-only
/// from our target, saying so on the console, before the guest prints BMCAST-READY and powers off. QEMU has no disk
/// at all, so nothing but our target can have supplied any of it. QEMU runs in a namespace the test creates, on a
/// tap device there that the target serves directly; the NIC is virtio (iPXE drives it, and Debian's cloud kernel
/// has no e1000 driver).
/// </summary>
public sealed class IpxeAoeBootTests(TinyImageFixture fixture, ITestOutputHelper output) : IClassFixture<TinyImageFixture>
{
    private const string IpxeKernel = "/usr/lib/ipxe/ipxe.lkrn";
    private const string KernelStarted = "Run /init as init process";
    private const string RootOverAoe = "bmcast-initramfs: root /dev/etherd/e0.0p2 over AoE, read-only";
    private const string Ready = "BMCAST-READY mode=poweroff";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Ipxe_sanboots_the_tiny_image_from_our_aoe_target_to_the_ready_marker()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Skip("iPXE over AoE needs root (tap device, raw sockets, ip netns); CI runs ./test.sh as root");
        if (!File.Exists(IpxeKernel))
            Assert.Skip($"{IpxeKernel} is missing (apt-get install ipxe)");
        if (!File.Exists("/dev/net/tun"))
            Assert.Skip("/dev/net/tun is missing: no tap devices for QEMU");
        ExternalTool.Require("ip");
        var image = fixture.Image;
        using var dir = new TempDirectory();
        string store = dir.File("store");
        var imported = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), "image", "import", image.Path, "--name", "tiny", "--store", store);
        Assert.True(imported.ExitCode == 0, $"import failed: {imported.Output}{imported.Error}");
        await File.WriteAllTextAsync(dir.File("boot.ipxe"), "#!ipxe\nifopen net0\nsanboot aoe:e0.0\n", TestContext.Current.CancellationToken);

        await using var tap = await TapNamespace.CreateAsync();
        await using var server = ExternalTool.StartBackground("ip", tap.Exec("dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"),
            "serve", "--aoe", tap.Interface, "--aoe-shelf", "0", "--store", store));
        // iPXE looks for the target only briefly; a loaded machine may take seconds to start dotnet.
        await tap.WaitForAoeSocketAsync(TimeSpan.FromSeconds(60));

        await using var machine = GuestMachine.Start("ip", tap.Exec(fixture.Qemu, "-accel", await Accelerator.DetectAsync(), "-m", "256M",
            "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
            "-netdev", $"tap,id=net0,ifname={tap.Interface},script=no,downscript=no", "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-smbios", "type=11,value=bmcast.mode=poweroff", "-kernel", IpxeKernel, "-initrd", dir.File("boot.ipxe")));
        var started = await machine.WaitForAsync(KernelStarted, BootTimeout);
        var mounted = await machine.WaitForAsync(RootOverAoe, BootTimeout);
        var ready = await machine.WaitForAsync(Ready, BootTimeout);
        await machine.WaitForExitAsync(TimeSpan.FromMinutes(1));
        output.WriteLine($"since QEMU started: tiny's kernel (loaded by iPXE over AoE) ran its init at {started.TotalSeconds:0.0} s, "
            + $"its root was mounted over AoE at {mounted.TotalSeconds:0.0} s, BMCAST-READY at {ready.TotalSeconds:0.0} s");
    }
}
