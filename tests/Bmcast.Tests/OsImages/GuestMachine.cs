using System.Diagnostics;
using System.Threading.Channels;
using Bmcast.Machines.Qemu;

namespace Bmcast.Tests.OsImages;

/// <summary>
/// One QEMU machine booting a sample image from a raw file, its serial console read line by line.
/// KVM when it really works (<see cref="Accelerator"/>), TCG otherwise.
/// Disposing kills this QEMU by its PID if it still runs.
/// </summary>
public sealed class GuestMachine : IAsyncDisposable
{
    public const string OvmfPath = "/usr/share/ovmf/OVMF.fd";

    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _console = [];
    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private int _disposed;

    private GuestMachine(Process process)
    {
        _process = process;
        _ = PumpAsync(process.StandardOutput, serial: true);
        _ = PumpAsync(process.StandardError, serial: false);
    }

    public static async Task<GuestMachine> StartAsync(string qemu, string image, Firmware firmware, string mode, DiskBus disk = DiskBus.Virtio)
    {
        var args = new List<string> { "-accel", await Accelerator.DetectAsync() };
        args.AddRange(["-m", "1G", "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
            "-serial", "stdio", "-smbios", $"type=11,value=bmcast.mode={mode}"]);
        if (firmware == Firmware.Ovmf)
            args.AddRange(["-bios", OvmfPath]);
        if (disk == DiskBus.Nvme)
            args.AddRange(["-drive", $"file={image},format=raw,if=none,id=disk", "-device", "nvme,drive=disk,serial=bmcast"]);
        else
            args.AddRange(["-drive", $"file={image},format=raw,if=virtio"]);
        return Start(qemu, args);
    }

    /// <summary>
    /// QEMU started by <paramref name="program"/> (QEMU itself, or a launcher that execs it, such as <c>ip netns exec</c>,
    /// so the PID stays QEMU's) with a command line whose serial console is stdio.
    /// </summary>
    public static GuestMachine Start(string program, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in arguments)
            info.ArgumentList.Add(arg);
        return new GuestMachine(Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}"));
    }

    /// <summary>Everything the console printed so far, for failure messages.</summary>
    public string Console
    {
        get
        {
            lock (_console)
                return string.Join('\n', _console.TakeLast(40));
        }
    }

    /// <summary>Whether any line so far (console or QEMU's own output) contains <paramref name="text"/>.</summary>
    public bool Printed(string text)
    {
        lock (_console)
            return _console.Exists(line => line.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Every line so far (console or QEMU's own output) containing <paramref name="text"/>, in order.</summary>
    public IReadOnlyList<string> LinesContaining(string text)
    {
        lock (_console)
            return _console.FindAll(line => line.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>The first line so far (console or QEMU's own output) containing <paramref name="text"/>, or null.</summary>
    public string? LineContaining(string text)
    {
        lock (_console)
            return _console.Find(line => line.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>
    /// Wait for a console line containing <paramref name="marker"/> (markers may share a line with a login
    /// prompt); returns the time since QEMU started. A line containing <paramref name="fault"/> first ends the wait
    /// with a <see cref="GuestFaultException"/>.
    /// </summary>
    public async Task<TimeSpan> WaitForAsync(string marker, TimeSpan timeout, string? fault = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (string line in _lines.Reader.ReadAllAsync(cts.Token))
            {
                if (line.Contains(marker, StringComparison.Ordinal))
                    return _sinceStart.Elapsed;
                if (fault is not null && line.Contains(fault, StringComparison.Ordinal))
                    throw new GuestFaultException($"'{line.Trim()}' before {marker}; console:\n{Console}");
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no {marker} within {timeout.TotalSeconds} s; console:\n{Console}");
        }
        await _process.WaitForExitAsync();
        Assert.Fail($"QEMU exited ({_process.ExitCode}) before {marker}; console:\n{Console}");
        return _sinceStart.Elapsed;
    }

    /// <summary>Wait for the guest to power off (QEMU exits on its own).</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the guest did not power off within {timeout.TotalSeconds} s; console:\n{Console}");
        }
    }

    /// <summary>Kills this QEMU (by its PID) if it still runs; disposing again does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        if (!_process.HasExited)
            _process.Kill(); // this QEMU's PID only
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    /// <summary>Keep every line for failure messages; only the serial console's (stdout) are searched for markers.</summary>
    private async Task PumpAsync(StreamReader reader, bool serial)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_console)
                _console.Add(line);
            if (serial)
                _lines.Writer.TryWrite(line);
        }
        if (serial)
            _lines.Writer.TryComplete();
    }
}
