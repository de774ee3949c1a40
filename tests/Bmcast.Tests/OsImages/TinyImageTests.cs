using Bmcast.Agent.ImageBuild;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.OsImages;

/// <summary>
/// The tiny sample image, built by its recipe and booted in QEMU (TCG here, KVM where usable) from the raw
/// file: both firmwares reach the marker, and what the guest writes survives into the next boot.
/// </summary>
public sealed class TinyImageTests(TinyImageFixture fixture, ITestOutputHelper output) : IClassFixture<TinyImageFixture>
{
    // Under TCG on a busy two-core machine a boot takes 5-10 s; leave room for a slow CI host.
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(3);
    private const string AoeDriverLoaded = "aoe: AoE v";

    [Fact]
    public void A_second_build_of_the_same_recipes_comes_from_the_cache()
    {
        var image = fixture.Image;
        Assert.False(image.FromCache);
        Assert.Equal(64L << 20, image.SizeBytes);
        Assert.NotNull(fixture.SecondBuild);
        Assert.True(fixture.SecondBuild.FromCache);
        Assert.Equal(image.Path, fixture.SecondBuild.Path);
    }

    [Theory]
    [InlineData(Firmware.SeaBios)]
    [InlineData(Firmware.Ovmf)]
    public async Task Boots_to_the_marker_and_powers_off(Firmware firmware)
    {
        var image = fixture.Image;
        if (firmware == Firmware.Ovmf && !File.Exists(GuestMachine.OvmfPath))
            Assert.Skip($"{GuestMachine.OvmfPath} is missing (apt-get install ovmf)");
        using var scratch = new TempDirectory();
        string disk = await CopyAsync(image, scratch);
        await using var machine = await GuestMachine.StartAsync(fixture.Qemu, disk, firmware, "poweroff");
        var ready = await machine.WaitForAsync("BMCAST-READY mode=poweroff", BootTimeout);
        output.WriteLine($"{firmware}: BMCAST-READY after {ready.TotalSeconds:0.0} s");
        // The disk is there as soon as its driver is (virtio_blk probes as the initramfs loads it), so the network-root
        // fallback, a second later, never starts.
        Assert.False(machine.Printed(AoeDriverLoaded), $"a local boot loaded the aoe driver; console:\n{machine.Console}");
        await machine.WaitForExitAsync(TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Files_written_in_write_test_mode_are_there_on_the_next_boot()
    {
        var image = fixture.Image;
        using var scratch = new TempDirectory();
        string disk = await CopyAsync(image, scratch);
        await using (var writer = await GuestMachine.StartAsync(fixture.Qemu, disk, Firmware.SeaBios, "write-test"))
            await writer.WaitForAsync("BMCAST-WRITES-DONE", BootTimeout);
        // The writer stays up and is killed: the guest synced, so nothing depends on a clean shutdown.
        await using var checker = await GuestMachine.StartAsync(fixture.Qemu, disk, Firmware.SeaBios, "write-check", DiskBus.Nvme);
        await checker.WaitForAsync("BMCAST-WRITES-OK files=4", BootTimeout);
        await checker.WaitForExitAsync(TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task A_fresh_image_has_none_of_the_test_files()
    {
        var image = fixture.Image;
        using var scratch = new TempDirectory();
        string disk = await CopyAsync(image, scratch);
        await using var checker = await GuestMachine.StartAsync(fixture.Qemu, disk, Firmware.SeaBios, "write-check");
        await checker.WaitForAsync("BMCAST-WRITES-BAD", BootTimeout);
    }

    /// <summary>Each boot gets its own copy: the cached image stays pristine.</summary>
    private static async Task<string> CopyAsync(BuiltImage image, TempDirectory scratch)
    {
        string disk = scratch.File("disk.img");
        await SparseCopy.CopyAsync(image.Path, disk, replace: false, CancellationToken.None);
        return disk;
    }
}
