using Bmcast.Machines.Qemu;

namespace Bmcast.Machines.BareMetal;

/// <summary>
/// QEMU's arguments for a <see cref="BareMetalSpec"/>, as vmm/run-qemu.sh boots the hypervisor: q35, one CPU (the
/// hypervisor refuses to stream when other CPUs would reach the disk unmediated), OVMF, the boot drive first, the
/// NVMe disk second, the e1000 without an option ROM (so the firmware binds no driver to it), and QMP for the host.
/// </summary>
public static class BareMetalCommandLine
{
    public static List<string> For(BareMetalSpec spec, string accelerator, string qmpSocket)
    {
        var arguments = new List<string>
        {
            "-machine", "q35", "-accel", accelerator, "-cpu", accelerator == "kvm" ? "host" : "max", "-smp", "1",
            "-m", spec.MemoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture), "-bios", QemuCommandLine.OvmfPath,
            "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-net", "none",
            "-qmp", $"unix:{qmpSocket},server=on,wait=off",
            "-netdev", $"tap,id=aoe0,ifname={spec.TapInterface},script=no,downscript=no", "-device", "e1000,netdev=aoe0,romfile=",
            "-drive", $"if=none,id=vmm,format=raw,file={Escape(spec.BootDrive)}", "-device", "ide-hd,drive=vmm,bus=ide.0,bootindex=0",
            "-drive", $"if=none,id=os,format=raw,file={Escape(spec.TargetDisk)}",
            "-device", $"nvme,drive=os,serial=bmcast-os,id={QemuCommandLine.DeviceId},bootindex=1",
        };
        if (spec.SmbiosStrings.Count > 0)
            arguments.AddRange(["-smbios", "type=11," + string.Join(',', spec.SmbiosStrings.Select(s => "value=" + Escape(s)))]);
        return arguments;
    }

    /// <summary>
    /// KVM only where it works (<see cref="Accelerator"/>) and the host CPU has AMD SVM for the guest to use (nested
    /// SVM); the hypervisor needs SVM, which QEMU's TCG emulates everywhere.
    /// </summary>
    public static async Task<string> AcceleratorAsync()
    {
        if (await Accelerator.DetectAsync() != "kvm")
            return "tcg";
        bool svm = File.ReadLines("/proc/cpuinfo").Any(line => line.StartsWith("flags", StringComparison.Ordinal) && line.Split(' ').Contains("svm"));
        return svm ? "kvm" : "tcg";
    }

    /// <summary>QEMU's option syntax: a comma inside a value is doubled.</summary>
    private static string Escape(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}
