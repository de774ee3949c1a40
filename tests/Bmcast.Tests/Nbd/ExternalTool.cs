using System.Diagnostics;
using System.Net.Sockets;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// Runs the real NBD peers (nbdinfo, nbdcopy, qemu-img, qemu-io, qemu-nbd, nbdkit, nbd-server). A missing tool
/// skips the test with a reason; a background process is killed by its own PID, never by name.
/// </summary>
internal static class ExternalTool
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public sealed record Result(int ExitCode, string Output, string Error);

    /// <summary>Full path of <paramref name="tool"/>, or skip the test.</summary>
    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/sbin", "/sbin", "/usr/bin"]))
        {
            string path = Path.Combine(dir, tool);
            if (File.Exists(path))
                return path;
        }
        Assert.Skip($"{tool} is not installed (apt-get install qemu-utils libnbd-bin nbdkit nbd-server)");
        return tool;
    }

    public static Task<Result> RunAsync(string tool, params string[] arguments) => RunAsync(DefaultTimeout, tool, arguments);

    public static async Task<Result> RunAsync(TimeSpan timeout, string tool, params string[] arguments)
    {
        using var process = Start(Require(tool), arguments);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"{tool} {string.Join(' ', arguments)} did not finish in {timeout.TotalSeconds} s");
        }
        return new Result(process.ExitCode, await output, await error);
    }

    /// <summary>Run and require success, returning standard output.</summary>
    public static Task<string> RunCheckedAsync(string tool, params string[] arguments) => RunCheckedAsync(DefaultTimeout, tool, arguments);

    public static async Task<string> RunCheckedAsync(TimeSpan timeout, string tool, params string[] arguments)
    {
        var result = await RunAsync(timeout, tool, arguments);
        Assert.True(result.ExitCode == 0,
            $"{tool} {string.Join(' ', arguments)} exited {result.ExitCode}\nstdout: {result.Output}\nstderr: {result.Error}");
        return result.Output;
    }

    /// <summary>Start a server in the foreground of its own process; dispose to kill it.</summary>
    public static BackgroundProcess StartBackground(string tool, params string[] arguments) =>
        new(Start(Require(tool), arguments));

    private static Process Start(string path, string[] arguments)
    {
        var info = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {path}");
    }

    public sealed class BackgroundProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _error;

        public BackgroundProcess(Process process)
        {
            _process = process;
            _error = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync();
        }

        /// <summary>Wait until <paramref name="ready"/> holds (e.g. its socket exists), failing if the process dies first.</summary>
        public async Task WaitUntilAsync(Func<bool> ready, string what)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!ready())
            {
                if (_process.HasExited)
                    Assert.Fail($"{_process.StartInfo.FileName} exited {_process.ExitCode} before {what}: {await _error}");
                if (DateTime.UtcNow > deadline)
                    Assert.Fail($"{_process.StartInfo.FileName}: no {what} after 10 s");
                await Task.Delay(20);
            }
        }

        /// <summary>
        /// Wait until the unix socket at <paramref name="path"/> accepts a connection (then closed at once). Its file
        /// alone is not enough: it appears at bind(2), before listen(2), and a connect in between is refused.
        /// </summary>
        public Task WaitForSocketAsync(string path) => WaitUntilAsync(() => Accepts(path), "listening socket");

        private static bool Accepts(string path)
        {
            if (!File.Exists(path))
                return false;
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
                _process.Kill(); // This PID only: no process-name matching.
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
