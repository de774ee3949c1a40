using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Bmcast.TestKit.Processes;

/// <summary>
/// Another <c>bmcast</c> (this same build) as a child process, for chaos campaigns and tests that must
/// kill it with SIGKILL or stop it with SIGTERM. Reads its <c>--json</c> events from stdout.
/// Disposing stops it by PID if it still runs. The program is the <c>bmcast.dll</c> (or <c>bmcast-chaos.dll</c>)
/// beside the running one: a project that uses this kit references the CLI (and the chaos tool) to put it there.
/// </summary>
public sealed partial class BmcastProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<JsonElement> _events = [];
    private TaskCompletionSource _eventsChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _eventsEnded;
    private readonly StringBuilder _stderr = new();
    private readonly StringBuilder _stdout = new();
    private readonly Task _readers;

    private BmcastProcess(Process process)
    {
        _process = process;
        _readers = Task.WhenAll(ReadEventsAsync(), ReadErrorsAsync());
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything printed on stdout, events included.</summary>
    public string Stdout
    {
        get
        {
            lock (_stdout)
                return _stdout.ToString();
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
                return _stderr.ToString();
        }
    }

    private const string Bmcast = "bmcast";
    private const string Chaos = "bmcast-chaos";

    public static BmcastProcess Start(params string[] arguments) => Start(Bmcast, arguments);

    /// <summary>Start bmcast with <paramref name="environment"/> added to this process's (e.g. an object store's credentials).</summary>
    public static BmcastProcess Start(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Start(Bmcast, arguments, environment);

    private static BmcastProcess Start(string program, string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = StartInfo(program, arguments);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            info.Environment[name] = value;
        return new(Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}"));
    }

    /// <summary>Run a short bmcast command to completion and return (exit code, stdout, stderr).</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunAsync(TimeSpan timeout, params string[] arguments) =>
        RunAsync(Bmcast, timeout, arguments);

    /// <summary>The same, with <paramref name="environment"/> added to this process's.</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunAsync(TimeSpan timeout, IReadOnlyDictionary<string, string> environment,
        params string[] arguments) =>
        RunAsync(Bmcast, timeout, arguments, environment);

    /// <summary>Run a chaos campaign (<c>bmcast-chaos CAMPAIGN ...</c>) to completion and return (exit code, stdout, stderr).</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunChaosAsync(TimeSpan timeout, params string[] arguments) =>
        RunAsync(Chaos, timeout, arguments);

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string program, TimeSpan timeout, string[] arguments,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        await using var child = Start(program, arguments, environment);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await child._process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}; stderr:\n{child.Stderr}");
        }
        await child._readers;
        return (child._process.ExitCode, child.Stdout, child.Stderr);
    }

    /// <summary><c>dotnet PROGRAM.dll</c>, the build beside this one.</summary>
    private static ProcessStartInfo StartInfo(string program, string[] arguments)
    {
        string assembly = Path.Combine(AppContext.BaseDirectory, program + ".dll");
        if (!File.Exists(assembly))
            throw new FileNotFoundException($"{assembly} is missing: reference its project from the one running this", assembly);
        var info = new ProcessStartInfo("dotnet") { ArgumentList = { assembly } };
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        return info;
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

    /// <summary>
    /// Where a <c>bmcast serve --nbd 127.0.0.1:0</c> listens: the port it logged (the kernel chose it), waiting for the line.
    /// </summary>
    public async Task<IPEndPoint> LoopbackListenerAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (LoopbackListening().Match(Stderr) is { Success: true } match)
                return new IPEndPoint(IPAddress.Loopback, int.Parse(match.Groups[1].Value));
            if (HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"bmcast serve did not listen on 127.0.0.1 ({ExitCodeText()}); stderr:\n{Stderr}");
            await Task.Delay(50);
        }
    }

    [GeneratedRegex(@"NBD server listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex LoopbackListening();

    /// <summary>Power-cut stand-in: SIGKILL, no chance to commit anything; a process that ended by itself first is reaped.</summary>
    public async Task KillHardAsync()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException) when (_process.HasExited)
        {
        }
        await _process.WaitForExitAsync();
    }

    /// <summary>Polite stop (SIGTERM), as an operator or systemd would; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        // A process that already ended by itself (a deploy exits after its pivot) is simply reaped.
        if (kill(_process.Id, 15) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed");
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        await _readers;
        return _process.ExitCode;
    }

    /// <summary>Wait for it to exit by itself (a refusal at start, say); returns the exit code.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        await _readers;
        return _process.ExitCode;
    }

    /// <summary>
    /// Stop it if it still runs: SIGTERM first, so a <c>bmcast deploy</c> can still stop the
    /// machine it started politely (a SIGKILL kills QEMU outright), then SIGKILL after a grace period.
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
            lock (_stdout)
                _stdout.AppendLine(line);
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
