using System.Diagnostics;

namespace Bmcast.Chaos.ServerMemory;

/// <summary>
/// The client that must keep working while hostile ones run: a real NBD peer, <c>nbdcopy</c> (libnbd-bin), or
/// <c>qemu-img convert</c> (qemu-utils) where nbdcopy is missing, copying the whole export into a file that is then
/// compared with the image.
/// </summary>
public sealed class WellBehavedCopier
{
    private readonly string _tool;

    private WellBehavedCopier(string tool) => _tool = tool;

    /// <summary>nbdcopy or qemu-img, whichever is installed first; an error naming the packages when neither is.</summary>
    public static WellBehavedCopier Find()
    {
        foreach (string tool in new[] { "nbdcopy", "qemu-img" })
            foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
                if (File.Exists(Path.Combine(directory, tool)))
                    return new WellBehavedCopier(Path.Combine(directory, tool));
        throw new InvalidOperationException("server-memory needs nbdcopy or qemu-img as its well-behaved client (apt-get install libnbd-bin qemu-utils)");
    }

    public string Name => Path.GetFileName(_tool);

    /// <summary>Copy <paramref name="uri"/> into <paramref name="destination"/>; the reason it failed, or null.</summary>
    public async Task<string?> CopyAsync(string uri, string destination, TimeSpan timeout, CancellationToken ct)
    {
        File.Delete(destination);
        string[] arguments = Name == "nbdcopy" ? [uri, destination] : ["convert", "-f", "raw", "-O", "raw", uri, destination];
        var info = new ProcessStartInfo(_tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {_tool}");
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(); // This PID only.
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            return $"{Name} did not finish within {timeout.TotalSeconds:0} s";
        }
        await output;
        return process.ExitCode == 0 ? null : $"{Name} exited {process.ExitCode}: {(await error).Trim()}";
    }
}
