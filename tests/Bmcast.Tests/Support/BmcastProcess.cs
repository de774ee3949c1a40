using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Bmcast.Tests.Support;

/// <summary>
/// The real <c>bmcast</c> CLI as a child process (the build beside the tests), for tests that must
/// kill it with SIGKILL or stop it with SIGTERM. Reads its <c>--json</c> events from stdout.
/// Disposing kills it by PID if it still runs.
/// </summary>
public sealed class BmcastProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<JsonElement> _events = [];
    private TaskCompletionSource _eventsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _eventsEnded;
    private readonly StringBuilder _stderr = new();
    private readonly Task _readers;

    private BmcastProcess(Process process)
    {
        _process = process;
        _readers = Task.WhenAll(ReadEventsAsync(), ReadErrorsAsync());
    }

    public int Pid => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString();
        }
    }

    public static BmcastProcess Start(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bmcast.dll"));
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        return new BmcastProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start bmcast"));
    }

    /// <summary>Run a short bmcast command to completion and return (exit code, stdout, stderr).</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(TimeSpan timeout, params string[] arguments)
    {
        var result = await Nbd.ExternalTool.RunAsync(timeout, "dotnet", [Path.Combine(AppContext.BaseDirectory, "bmcast.dll"), .. arguments]);
        return (result.ExitCode, result.Output, result.Error);
    }

    /// <summary>
    /// The first event named <paramref name="name"/> (matching <paramref name="match"/>) the process has
    /// printed, waiting for it if need be: events that came earlier count, whatever order they came in.
    /// </summary>
    public async Task<JsonElement> WaitForEventAsync(string name, TimeSpan timeout, Func<JsonElement, bool>? match = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task changed;
            lock (_events)
            {
                foreach (var e in _events)
                    if (e.GetProperty("event").GetString() == name && (match is null || match(e)))
                        return e;
                if (_eventsEnded)
                    throw new InvalidOperationException($"bmcast exited ({ExitCodeText()}) without a '{name}' event; stderr:\n{Stderr}");
                changed = _eventsChanged.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || await Task.WhenAny(changed, Task.Delay(left)) != changed)
                throw new TimeoutException($"no '{name}' event from bmcast within {timeout}; stderr:\n{Stderr}");
        }
    }

    /// <summary>Power-cut stand-in: SIGKILL, no chance to commit anything.</summary>
    public async Task KillHardAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    /// <summary>Polite stop (SIGTERM), as an operator or systemd would; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (kill(_process.Id, 15) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed");
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        await _readers;
        return _process.ExitCode;
    }

    /// <summary>
    /// Stop it if a test left it running: SIGTERM first, so a <c>bmcast deploy</c> can still stop the
    /// QEMU it started (a SIGKILL would orphan it), then SIGKILL after a grace period.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited && kill(_process.Id, 15) == 0)
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(45));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private string ExitCodeText() => _process.HasExited ? $"exit code {_process.ExitCode}" : "still running";

    private async Task ReadEventsAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith('{'))
                continue;
            using var document = JsonDocument.Parse(line);
            SignalEvents(() => _events.Add(document.RootElement.Clone()));
        }
        SignalEvents(() => _eventsEnded = true);
    }

    private void SignalEvents(Action change)
    {
        TaskCompletionSource changed;
        lock (_events)
        {
            change();
            changed = _eventsChanged;
            _eventsChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private async Task ReadErrorsAsync()
    {
        while (await _process.StandardError.ReadLineAsync() is { } line)
            lock (_stderr)
                _stderr.AppendLine(line);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
