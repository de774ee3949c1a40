using System.Diagnostics;

namespace Bmcast.Machines.Qemu;

/// <summary>
/// KVM when it really works, QEMU's TCG emulation otherwise. An openable <c>/dev/kvm</c> is not
/// enough: under some nested hypervisors QEMU aborts at the first vCPU reset (e.g. "failed to set
/// MSR 0x10a"), so a paused probe machine is started once and must survive its reset.
/// </summary>
public static class Accelerator
{
    private static readonly Lazy<Task<string>> Probe = new(ProbeAsync);

    public static Task<string> DetectAsync() => Probe.Value;

    private static async Task<string> ProbeAsync()
    {
        if (!File.Exists("/dev/kvm"))
            return "tcg";
        var info = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults",
                     "-display", "none", "-monitor", "none", "-serial", "none", "-S"])
            info.ArgumentList.Add(argument);
        using var probe = TiedProcess.Start(info);
        // A broken KVM fails within milliseconds of start; a working one sits paused.
        await Task.WhenAny(probe.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(1)));
        if (!probe.HasExited)
        {
            probe.Kill();
            await probe.WaitForExitAsync();
            return "kvm";
        }
        return "tcg";
    }
}
