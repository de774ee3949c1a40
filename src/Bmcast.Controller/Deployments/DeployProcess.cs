using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// A deployment's <c>bmcast deploy --json</c> process. It runs in a session of its own (<c>setsid</c>: a Ctrl-C
/// meant for the controller does not reach it) with its events and log written straight to files, so it and its
/// guest go on when the controller stops or crashes; a restarted controller finds it again by PID.
/// </summary>
public static partial class DeployProcess
{
    private const int SigTerm = 15;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>Start <paramref name="command"/> (program and arguments) with stdout to the events file, stderr to the log.</summary>
    public static Process Start(IReadOnlyList<string> command, DeploymentFiles files)
    {
        Directory.CreateDirectory(files.Directory);
        // setsid execs in place (the shell's child is no group leader), so the PID seen here is the deploy's own.
        var info = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            ArgumentList = { "-c", "events=$1 errors=$2; shift 2; exec setsid \"$@\" < /dev/null >> \"$events\" 2>> \"$errors\"", "sh", files.Events, files.Errors },
        };
        foreach (string argument in command)
            info.ArgumentList.Add(argument);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the deploy process");
    }

    /// <summary>
    /// Whether <paramref name="pid"/> still is this deployment's deploy (not a zombie, not a later process that reused
    /// the PID): its command line is a <c>deploy</c> of <paramref name="target"/>.
    /// </summary>
    public static bool IsRunning(int pid, string target)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
                return false;
            string[] arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return arguments.Contains("deploy") && arguments.Contains(target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Ask it to stop cleanly (SIGTERM: the guest is asked to power off, the presence map committed).</summary>
    public static void Stop(int pid)
    {
        if (kill(pid, SigTerm) != 0 && Marshal.GetLastPInvokeError() != 3 /* ESRCH: already gone */)
            throw new IOException($"could not signal the deploy process {pid} (errno {Marshal.GetLastPInvokeError()})");
    }
}
