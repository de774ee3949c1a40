using System.Diagnostics;

namespace Bmcast.Machines.Qemu;

/// <summary>
/// Starts a process that dies with this one, even when this one is killed with SIGKILL (a QEMU left
/// running would keep the guest and its disk going with nobody supervising them). The child is
/// started through <c>setpriv --pdeathsig KILL</c> (util-linux), which asks the kernel to send it
/// SIGKILL when its parent dies, then execs the program (same PID).
/// </summary>
/// <remarks>
/// The kernel's "parent" here is the <em>thread</em> that forked, not the process: a child forked
/// from a thread-pool thread would be killed when that thread retires. So the fork happens on a
/// thread of its own that lives until the child has exited. The one gap left: if this process dies
/// in the few milliseconds before setpriv has set the signal, the child survives.
/// </remarks>
public static class TiedProcess
{
    /// <param name="info">The program and its arguments (in <see cref="ProcessStartInfo.ArgumentList"/>), and which streams to redirect.</param>
    public static Process Start(ProcessStartInfo info)
    {
        if (info.Arguments.Length > 0)
            throw new ArgumentException("pass the arguments in ArgumentList", nameof(info));
        var tied = new ProcessStartInfo("setpriv")
        {
            RedirectStandardInput = info.RedirectStandardInput,
            RedirectStandardOutput = info.RedirectStandardOutput,
            RedirectStandardError = info.RedirectStandardError,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["--pdeathsig", "KILL", "--", info.FileName, .. info.ArgumentList])
            tied.ArgumentList.Add(argument);

        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        var parent = new Thread(() =>
        {
            Process process;
            try
            {
                process = Process.Start(tied) ?? throw new IOException($"cannot start {info.FileName}");
            }
            catch (Exception e)
            {
                started.SetException(e);
                return;
            }
            var exited = process.WaitForExitAsync();
            started.SetResult(process);
            // Stay alive as the child's parent thread until it is gone.
            ((IAsyncResult)exited).AsyncWaitHandle.WaitOne();
        })
        {
            IsBackground = true,
            Name = $"parent of {Path.GetFileName(info.FileName)}",
        };
        parent.Start();
        return started.Task.GetAwaiter().GetResult();
    }
}
