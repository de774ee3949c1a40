using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Bmcast.Tests.Support;

/// <summary>
/// The real <c>bmcast</c> CLI as a child process (the build beside the tests), for tests that must
/// kill it with SIGKILL or stop it with SIGTERM. Reads its <c>--json</c> events from stdout.
/// Disposing kills it by PID if it still runs.
/// </summary>
public sealed class BmcastProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();
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
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bmcast.dll"));
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"bmcast {string.Join(' ', arguments)} did not finish in {timeout}");
        }
        return (process.ExitCode, await output, await error);
    }

    /// <summary>The next event named <paramref name="name"/>, skipping others; fails if the process exits first.</summary>
    public async Task<JsonElement> WaitForEventAsync(string name, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var e in _events.Reader.ReadAllAsync(cts.Token))
                if (e.GetProperty("event").GetString() == name)
                    return e;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no '{name}' event from bmcast within {timeout}; stderr:\n{Stderr}");
        }
        throw new InvalidOperationException($"bmcast exited ({ExitCodeText()}) before a '{name}' event; stderr:\n{Stderr}");
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

    public async ValueTask DisposeAsync()
    {
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
            _events.Writer.TryWrite(document.RootElement.Clone());
        }
        _events.Writer.TryComplete();
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
