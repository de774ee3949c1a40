using System.Diagnostics;

namespace Bmcast.Machines.Qemu;

/// <summary>
/// KVM when it really works, QEMU's TCG emulation otherwise. An openable <c>/dev/kvm</c> is not
/// enough: under some nested hypervisors QEMU aborts at the first vCPU reset (e.g. "failed to set
/// MSR 0x10a"). So a paused probe machine is started once and must answer a QMP command: QEMU
/// handles commands only after the reset, so an answer means KVM survived it. (The QMP greeting
/// itself comes before the reset, and how long the reset takes depends on the host's load, so
/// neither the greeting nor a fixed wait proves anything.)
/// </summary>
public static class Accelerator
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);
    private static readonly Lazy<Task<string>> Probe = new(ProbeAsync);

    public static Task<string> DetectAsync() => Probe.Value;

    private static async Task<string> ProbeAsync()
    {
        if (!File.Exists("/dev/kvm"))
            return "tcg";
        var info = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults",
                     "-display", "none", "-monitor", "none", "-serial", "none", "-S", "-qmp", "stdio"])
            info.ArgumentList.Add(argument);
        using var probe = TiedProcess.Start(info);
        var stderr = probe.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ProbeTimeout);
        bool answered = false;
        try
        {
            await probe.StandardInput.WriteLineAsync("""{"execute":"qmp_capabilities"}""");
            await probe.StandardInput.WriteLineAsync("""{"execute":"query-status"}""");
            await probe.StandardInput.FlushAsync();
            while (await probe.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
                if (line.Contains("\"running\"", StringComparison.Ordinal))
                {
                    answered = true;
                    break;
                }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // QEMU died (a broken pipe) or never answered: not a KVM to rely on.
        }
        if (!probe.HasExited)
            probe.Kill();
        await probe.WaitForExitAsync();
        await stderr;
        return answered ? "kvm" : "tcg";
    }
}
