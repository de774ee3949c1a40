using Bmcast.Tests.Aoe;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.OsImages;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// A bare-metal deployment in miniature: a network namespace with a tap device, <c>bmcast serve --aoe</c> serving a
/// store there (the image on e1.0, its manifest on e2.0), and a QEMU machine (OVMF, the hypervisor's FAT drive as
/// vmm/run-qemu.sh makes it, the target disk on NVMe, an e1000 on the tap) whose hypervisor streams that image onto
/// the target disk (SMBIOS strings: bmcast.vmm.nvme=trap, bmcast.vmm.aoe=e1.0, bmcast.vmm.root=ROOT). The
/// hypervisor's serial events (<see cref="VmmEvent"/>) are parsed as they arrive. Disposing stops QEMU and the
/// server by their PIDs and deletes the namespace, whatever happened.
/// </summary>
public sealed class BareMetalRig : IAsyncDisposable
{
    private readonly TapNamespace _tap;
    private ExternalTool.BackgroundProcess? _server;

    private BareMetalRig(TapNamespace tap, GuestMachine machine, ExternalTool.BackgroundProcess server)
    {
        _tap = tap;
        Machine = machine;
        _server = server;
    }

    public GuestMachine Machine { get; }

    /// <summary>Every event the hypervisor printed so far, in order.</summary>
    public IReadOnlyList<VmmEvent> Events =>
        Machine.LinesContaining(VmmEvent.Prefix).Select(VmmEvent.TryParse).OfType<VmmEvent>().ToList();

    /// <summary>Skips the calling test, saying why, when this machine cannot run the rig.</summary>
    public static void SkipUnlessSupported()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Skip("the hypervisor's AoE path needs root (tap device, raw sockets, ip netns); CI runs ./test.sh as root");
        if (!File.Exists(GuestMachine.OvmfPath))
            Assert.Skip($"{GuestMachine.OvmfPath} is missing (apt-get install ovmf)");
        if (!File.Exists("/dev/net/tun"))
            Assert.Skip("/dev/net/tun is missing: no tap devices for QEMU");
        ExternalTool.Require("ip");
        ExternalTool.Require("qemu-system-x86_64");
    }

    /// <summary>
    /// Starts the namespace (MTU <paramref name="mtu"/>), the server on <paramref name="store"/> and the machine on
    /// <paramref name="targetDisk"/>, its guest in <paramref name="guestMode"/>, the hypervisor trusting
    /// <paramref name="rootHash"/>, with <paramref name="vmmOptions"/> as further SMBIOS strings.
    /// </summary>
    public static async Task<BareMetalRig> StartAsync(string store, string rootHash, string targetDisk, string guestMode = "poweroff",
        int mtu = 1500, params string[] vmmOptions)
    {
        var tap = await TapNamespace.CreateAsync();
        try
        {
            await ExternalTool.RunCheckedAsync("ip", "-n", tap.Namespace, "link", "set", tap.Interface, "mtu", mtu.ToString());
            var server = ExternalTool.StartBackground("ip", tap.Exec("dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"),
                "serve", "--aoe", tap.Interface, "--aoe-shelf", "1", "--store", store));
            await tap.WaitForAoeSocketAsync(TimeSpan.FromSeconds(60));
            string[] options = ["bmcast.vmm.nvme=trap", "bmcast.vmm.aoe=e1.0", "bmcast.vmm.root=" + rootHash, .. vmmOptions];
            var machine = GuestMachine.Start("ip", tap.Exec([VmmScripts.PathOf("run-qemu.sh"), "--disk", targetDisk,
                "--aoe-tap", tap.Interface, "--guest-mode", guestMode, .. options.SelectMany(o => new[] { "--vmm-option", o })]));
            return new BareMetalRig(tap, machine, server);
        }
        catch
        {
            await tap.DisposeAsync();
            throw;
        }
    }

    /// <summary>The first event named <paramref name="name"/> (already printed, or within <paramref name="timeout"/>).</summary>
    public async Task<VmmEvent> WaitForEventAsync(string name, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (Events.FirstOrDefault(e => e.Name == name) is { } found)
                return found;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"no event={name} within {timeout.TotalSeconds} s; console:\n{Machine.Console}");
            await Task.Delay(100);
        }
    }

    /// <summary>Kills the image server (by its PID) while the machine runs on.</summary>
    public async Task StopServerAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
        _server = null;
    }

    public async ValueTask DisposeAsync()
    {
        await Machine.DisposeAsync();
        await StopServerAsync();
        await _tap.DisposeAsync();
    }

    /// <summary>An empty target disk for <paramref name="imageBytes"/>: a sparse file with the hypervisor's hidden tail (1 MiB) after it.</summary>
    public static void CreateEmptyDisk(string path, long imageBytes)
    {
        using var file = File.Create(path);
        file.SetLength(imageBytes + HiddenTailBytes);
    }

    /// <summary>What the hypervisor hides at the end of the namespace by default (bmcast.vmm.nvme-tail, 256 blocks of 4 KiB).</summary>
    public const long HiddenTailBytes = 1 << 20;
}
