namespace Bmcast.Machines.Qemu;

/// <summary>What machine to start: its disk is an NBD export (the streaming agent's) on a unix socket, or a local raw file.</summary>
/// <param name="NbdSocket">Unix socket of the NBD export that backs the disk (unless <paramref name="LocalDisk"/> is given).</param>
/// <param name="WorkDirectory">Where the QMP socket and the console log go.</param>
/// <param name="GuestMode">Passed to the guest as SMBIOS type 11 string <c>bmcast.mode=MODE</c>.</param>
/// <param name="ConsoleLog">Where the serial console is logged (default: <c>console.log</c> in the work directory).</param>
/// <param name="LocalDisk">Boot from this local raw file instead: the baseline streaming is compared with.</param>
/// <param name="GuestSettings">More <c>KEY=VALUE</c> settings for the guest, each passed as SMBIOS type 11 string <c>bmcast.KEY=VALUE</c>.</param>
public sealed record MachineSpec(
    string NbdSocket,
    string WorkDirectory,
    int MemoryMiB = 1024,
    int Cpus = 1,
    DiskBus Disk = DiskBus.Virtio,
    Firmware Firmware = Firmware.Bios,
    string? GuestMode = null,
    string? ConsoleLog = null,
    string? LocalDisk = null,
    IReadOnlyList<string>? GuestSettings = null);

public enum DiskBus
{
    Virtio,
    Nvme,
}

public enum Firmware
{
    /// <summary>SeaBIOS, QEMU's default.</summary>
    Bios,
    /// <summary>OVMF (package <c>ovmf</c>).</summary>
    Uefi,
}
