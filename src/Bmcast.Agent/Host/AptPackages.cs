using System.Diagnostics;

namespace Bmcast.Agent.Host;

/// <summary>Installs Debian packages that provide missing tools, so a fresh machine can run the demo.</summary>
public static class AptPackages
{
    /// <summary>
    /// Ensure each tool is on PATH (a tool starting with <c>/</c> is a file that must exist, as in the recipes'
    /// <c>need_tools</c>), installing its package with apt-get when it is not.
    /// </summary>
    public static async Task EnsureAsync(IReadOnlyDictionary<string, string> packageOfTool, Action<string> say, CancellationToken ct)
    {
        var missing = packageOfTool.Where(p => !IsPresent(p.Key)).Select(p => p.Value).Distinct().ToArray();
        if (missing.Length == 0)
            return;
        say($"installing {string.Join(", ", missing)} with apt-get");
        string sudo = Environment.UserName == "root" ? "" : "sudo ";
        await RunAsync("/bin/sh", $"-c \"{sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq {string.Join(' ', missing)}\"", ct);
        foreach (var tool in packageOfTool.Keys)
            if (!IsPresent(tool))
                throw new IOException($"{tool} is still missing after installing {packageOfTool[tool]}");
    }

    private static bool IsPresent(string tool) => tool.StartsWith('/') ? File.Exists(tool) : Which(tool) is not null;

    public static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin"])
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    /// <summary>Run a program to completion; a non-zero exit becomes an <see cref="IOException"/> carrying its stderr.</summary>
    public static async Task<string> RunAsync(string program, string arguments, CancellationToken ct)
    {
        var info = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info) ?? throw new IOException($"cannot start {program}");
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
            throw new IOException($"{program} {arguments} failed ({process.ExitCode}): {(await error).Trim()}");
        return await output;
    }
}
