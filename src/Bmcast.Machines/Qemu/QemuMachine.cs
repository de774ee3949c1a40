using System.Diagnostics;
using Bmcast.Machines.Qmp;
using Microsoft.Extensions.Logging;

namespace Bmcast.Machines.Qemu;

/// <summary>
/// A running QEMU machine: its process, its QMP connection, and its serial console (stdout), whose
/// lines are logged to <c>console.log</c> in the work directory and can be waited on. QEMU's own stderr goes to
/// <c>qemu.log</c> beside it (drained, so a chatty QEMU never blocks on a full pipe).
/// </summary>
public sealed class QemuMachine : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _consoleLog;
    private readonly List<(string Marker, TaskCompletionSource<TimeSpan> Seen)> _markers = [];
    private readonly List<(string Marker, Action<string> Seen)> _watchers = [];
    private readonly Stopwatch _clock;
    private readonly Task _consolePump;
    private readonly Task _stderrPump;

    private QemuMachine(Process process, QmpClient qmp, string accelerator, StreamWriter consoleLog, string qemuLog, Stopwatch clock)
    {
        _process = process;
        Qmp = qmp;
        Accelerator = accelerator;
        _consoleLog = consoleLog;
        _clock = clock;
        _consolePump = PumpConsoleAsync();
        _stderrPump = PumpStderrAsync(qemuLog);
    }

    public QmpClient Qmp { get; }

    /// <summary><c>kvm</c> or <c>tcg</c>.</summary>
    public string Accelerator { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Start QEMU and connect to its QMP socket.</summary>
    public static async Task<QemuMachine> StartAsync(MachineSpec spec, ILogger logger, CancellationToken ct)
    {
        string qmpSocket = Path.Combine(spec.WorkDirectory, "qmp.sock");
        string accelerator = await Qemu.Accelerator.DetectAsync();
        string consolePath = spec.ConsoleLog ?? Path.Combine(spec.WorkDirectory, "console.log");
        logger.LogInformation("starting QEMU ({Accelerator}) with its disk on {Socket}", accelerator, spec.NbdSocket);
        return await StartAsync(["qemu-system-x86_64", .. QemuCommandLine.For(spec, accelerator, qmpSocket)], accelerator, qmpSocket, consolePath, ct);
    }

    /// <summary>
    /// Start QEMU from a complete command line (<paramref name="command"/>[0] is QEMU, or a wrapper such as
    /// <c>ip netns exec</c> that execs it, so the PID is QEMU's) that serves QMP on <paramref name="qmpSocket"/>, and
    /// connect to it. The console goes to <paramref name="consolePath"/>, QEMU's stderr to <c>qemu.log</c> beside it.
    /// </summary>
    public static async Task<QemuMachine> StartAsync(IReadOnlyList<string> command, string accelerator, string qmpSocket, string consolePath,
        CancellationToken ct)
    {
        File.Delete(qmpSocket);
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
            info.ArgumentList.Add(argument);
        var clock = Stopwatch.StartNew();
        var process = TiedProcess.Start(info);
        try
        {
            var qmp = await ConnectQmpAsync(qmpSocket, process, ct);
            var consoleLog = new StreamWriter(consolePath) { AutoFlush = true };
            return new QemuMachine(process, qmp, accelerator, consoleLog, Path.Combine(Path.GetDirectoryName(consolePath)!, "qemu.log"), clock);
        }
        catch
        {
            process.Kill();
            await process.WaitForExitAsync(CancellationToken.None);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Completes with the time since start when a console line contains <paramref name="marker"/>.</summary>
    public Task<TimeSpan> WaitForConsoleAsync(string marker)
    {
        var seen = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_markers)
            _markers.Add((marker, seen));
        return seen.Task;
    }

    /// <summary>Calls <paramref name="seen"/> with every console line from now on that contains <paramref name="marker"/>.</summary>
    public void WatchConsole(string marker, Action<string> seen)
    {
        lock (_markers)
            _watchers.Add((marker, seen));
    }

    public Task WaitForExitAsync(CancellationToken ct) => _process.WaitForExitAsync(ct);

    /// <summary>Sends <paramref name="text"/> to the serial console's input (QEMU's stdin, <c>-serial stdio</c>).</summary>
    public async Task WriteConsoleAsync(string text, CancellationToken ct)
    {
        await _process.StandardInput.WriteAsync(text.AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
    }

    /// <summary>Bytes the guest has read from its disk so far (QEMU's block statistics for the device).</summary>
    public async Task<long> GuestBytesReadAsync(CancellationToken ct)
    {
        var stats = await Qmp.ExecuteAsync("query-blockstats", null, ct);
        foreach (var entry in stats?.AsArray() ?? [])
            if (entry?["qdev"]?.GetValue<string>() is { } qdev && qdev.Contains(QemuCommandLine.DeviceId, StringComparison.Ordinal))
                return entry["stats"]?["rd_bytes"]?.GetValue<long>() ?? 0;
        return 0;
    }

    /// <summary>ACPI power button, then a hard stop if the guest ignores it.</summary>
    public async Task ShutdownAsync(TimeSpan grace)
    {
        if (_process.HasExited)
            return;
        try
        {
            await Qmp.ExecuteAsync("system_powerdown", null, CancellationToken.None);
            await _process.WaitForExitAsync(new CancellationTokenSource(grace).Token);
        }
        catch (Exception e) when (e is QmpException or OperationCanceledException or IOException)
        {
            if (!_process.HasExited)
                _process.Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        await Qmp.DisposeAsync();
        await _consolePump;
        await _stderrPump;
        await _consoleLog.DisposeAsync();
        _process.Dispose();
    }

    private static async Task<QmpClient> ConnectQmpAsync(string socket, Process process, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
                throw new IOException($"QEMU exited ({process.ExitCode}) at start: {await process.StandardError.ReadToEndAsync(ct)}");
            if (File.Exists(socket))
            {
                try
                {
                    return await QmpClient.ConnectAsync(socket, ct);
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or QmpException && DateTime.UtcNow < deadline)
                {
                    // Not listening yet, or QEMU is going down: the next turn of the loop tells which.
                    await Task.Delay(50, ct);
                    continue;
                }
            }
            if (DateTime.UtcNow > deadline)
                throw new IOException($"QEMU's QMP socket {socket} did not come up in 30 s");
            await Task.Delay(20, ct);
        }
    }

    private async Task PumpStderrAsync(string path)
    {
        await using var log = new StreamWriter(path) { AutoFlush = true };
        while (await _process.StandardError.ReadLineAsync() is { } line)
            await log.WriteLineAsync(line);
    }

    private async Task PumpConsoleAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            await _consoleLog.WriteLineAsync(line);
            lock (_markers)
            {
                foreach (var (marker, seen) in _markers)
                    if (line.Contains(marker, StringComparison.Ordinal))
                        seen.TrySetResult(_clock.Elapsed);
                foreach (var (marker, seen) in _watchers)
                    if (line.Contains(marker, StringComparison.Ordinal))
                        seen(line);
            }
        }
        lock (_markers)
            foreach (var (marker, seen) in _markers)
                seen.TrySetException(new IOException($"the machine exited before printing {marker}"));
    }
}
