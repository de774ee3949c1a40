using System.Diagnostics;
using System.Globalization;
using Bmcast.Machines.Qemu;

namespace Bmcast.Agent.BareMetal;

/// <summary>
/// <c>bmcast serve --aoe</c> (this same program) inside a <see cref="NetworkNamespace"/>: a child process, because a
/// packet socket belongs to the namespace it was opened in. Tied to this process (<see cref="TiedProcess"/>), its
/// output kept in a log file; disposing kills it by its PID.
/// </summary>
public sealed class AoeServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task _pump;

    private AoeServerProcess(Process process, string logPath)
    {
        _process = process;
        _pump = PumpAsync(logPath);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Serves <paramref name="store"/> on shelf <paramref name="shelf"/> (manifests on the next shelf) over a link of <paramref name="bytesPerSecond"/>.</summary>
    public static async Task<AoeServerProcess> StartAsync(NetworkNamespace network, string store, ushort shelf, long bytesPerSecond, string logPath,
        CancellationToken ct)
    {
        string[] command = network.Exec([.. Self(), "serve", "--aoe", network.Interface, "--aoe-shelf", shelf.ToString(CultureInfo.InvariantCulture),
            "--store", store, "--rate", bytesPerSecond.ToString(CultureInfo.InvariantCulture)]);
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in command.Skip(1))
            info.ArgumentList.Add(argument);
        var server = new AoeServerProcess(TiedProcess.Start(info), logPath);
        try
        {
            await network.WaitForAoeSocketAsync(TimeSpan.FromMinutes(1), () => server.HasExited, ct);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>How this program was started: the .NET host and the CLI's assembly, or an apphost alone.</summary>
    private static string[] Self()
    {
        string process = Environment.ProcessPath ?? throw new IOException("cannot tell which program this is");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, System.Reflection.Assembly.GetEntryAssembly()?.Location ?? throw new IOException("no entry assembly")]
            : [process];
    }

    private async Task PumpAsync(string logPath)
    {
        await using var log = new StreamWriter(logPath) { AutoFlush = true };
        async Task Copy(StreamReader from)
        {
            while (await from.ReadLineAsync() is { } line)
                lock (log)
                    log.WriteLine(line);
        }
        await Task.WhenAll(Copy(_process.StandardOutput), Copy(_process.StandardError));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        await _pump;
        _process.Dispose();
    }
}
