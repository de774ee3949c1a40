using System.Text.Json.Nodes;

namespace Bmcast.Machines.Qemu;

/// <summary>
/// The QEMU command line for a <see cref="MachineSpec"/>. The disk is built from named block nodes
/// (<c>-blockdev</c>) so the pivot can later swap what is under the device without the guest knowing:
/// <c>disk-source</c> (the NBD client, or a local file) under <c>disk</c> (raw format) attached to device <c>disk0</c>.
/// </summary>
public static class QemuCommandLine
{
    public const string SourceNode = "disk-source";
    public const string DiskNode = "disk";
    public const string DeviceId = "disk0";
    public const string OvmfPath = "/usr/share/ovmf/OVMF.fd";

    public static List<string> For(MachineSpec spec, string accelerator, string qmpSocket)
    {
        var nbd = spec.LocalDisk is { } path
            ? new JsonObject { ["driver"] = "file", ["node-name"] = SourceNode, ["filename"] = path }
            : new JsonObject
            {
                ["driver"] = "nbd",
                ["node-name"] = SourceNode,
                ["server"] = new JsonObject { ["type"] = "unix", ["path"] = spec.NbdSocket },
                ["export"] = "",
            };
        var raw = new JsonObject { ["driver"] = "raw", ["node-name"] = DiskNode, ["file"] = SourceNode };
        var arguments = new List<string>
        {
            "-machine", "q35", "-accel", accelerator, "-cpu", accelerator == "kvm" ? "host" : "max",
            "-m", spec.MemoryMiB.ToString(), "-smp", spec.Cpus.ToString(),
            "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "stdio", "-monitor", "none",
            "-qmp", $"unix:{qmpSocket},server=on,wait=off",
            "-blockdev", nbd.ToJsonString(), "-blockdev", raw.ToJsonString(),
            "-device", spec.Disk == DiskBus.Nvme ? $"nvme,drive={DiskNode},serial=bmcast0,id={DeviceId}" : $"virtio-blk-pci,drive={DiskNode},id={DeviceId}",
        };
        if (spec.Firmware == Firmware.Uefi)
            arguments.AddRange(["-bios", OvmfPath]);
        if (spec.GuestMode is not null)
            arguments.AddRange(["-smbios", $"type=11,value=bmcast.mode={spec.GuestMode}"]);
        foreach (string setting in spec.GuestSettings ?? [])
            arguments.AddRange(["-smbios", $"type=11,value=bmcast.{setting}"]);
        return arguments;
    }
}
