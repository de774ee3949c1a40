namespace Bmcast.Machines.BareMetal;

/// <summary>
/// An emulated bare-metal machine for the hypervisor: UEFI firmware, the hypervisor's boot drive first, the local
/// disk on NVMe, and the hypervisor's own e1000 on a tap device (which must exist in the namespace QEMU runs in).
/// </summary>
/// <param name="BootDrive">A FAT image holding the hypervisor as <c>EFI/BOOT/BOOTX64.EFI</c>.</param>
/// <param name="TargetDisk">The local disk (raw): the image's size plus the hypervisor's hidden tail.</param>
/// <param name="SmbiosStrings">SMBIOS type 11 strings: the hypervisor's configuration and the guest's mode.</param>
public sealed record BareMetalSpec(string BootDrive, string TargetDisk, string TapInterface, IReadOnlyList<string> SmbiosStrings, int MemoryMiB = 1024);
