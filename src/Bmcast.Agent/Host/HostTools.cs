using Bmcast.Images;
using Bmcast.Machines.Qemu;

namespace Bmcast.Agent.Host;

/// <summary>
/// The programs (and files) each kind of work needs on the host, with the Debian package of each, for
/// <see cref="AptPackages.EnsureAsync"/>: a fresh Debian 12 machine has none of them.
/// </summary>
public static class HostTools
{
    /// <summary>A QEMU machine: the emulator, <c>setpriv</c> (which ties it to its parent), and OVMF for UEFI.</summary>
    public static IReadOnlyDictionary<string, string> Machine(Firmware firmware)
    {
        var tools = new Dictionary<string, string> { ["qemu-system-x86_64"] = "qemu-system-x86", ["setpriv"] = "util-linux" };
        if (firmware == Firmware.Uefi)
            tools[QemuCommandLine.OvmfPath] = "ovmf";
        return tools;
    }

    /// <summary>
    /// An emulated bare-metal machine under the hypervisor (<c>demo --bare-metal</c>): a UEFI machine, <c>ip</c> for its
    /// namespace and tap, and the FAT tools for the hypervisor's boot drive (vmm/build.sh installs nasm and lld itself).
    /// </summary>
    public static IReadOnlyDictionary<string, string> BareMetalMachine { get; } = new Dictionary<string, string>(Machine(Firmware.Uefi))
    {
        ["ip"] = "iproute2",
        ["mkfs.fat"] = "dosfstools",
        ["mcopy"] = "mtools",
        ["mmd"] = "mtools",
    };

    /// <summary>Reading images in formats other than raw (qcow2, vmdk, vhdx, vdi).</summary>
    public static IReadOnlyDictionary<string, string> ImageConversion { get; } = new Dictionary<string, string> { [QemuImg.Executable] = "qemu-utils" };
}
