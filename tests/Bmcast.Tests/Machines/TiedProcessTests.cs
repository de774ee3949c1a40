using System.Diagnostics;
using Bmcast.Machines.Qemu;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Machines;

/// <summary>
/// A tied process must not die with the thread that happened to start it: the kernel's parent-death
/// signal follows the forking thread, and a thread that starts a machine may be a pool thread that
/// retires while the machine runs. (That it dies with this process is <see cref="DeployKillTests"/>.)
/// </summary>
public sealed class TiedProcessTests
{
    [Fact]
    public async Task Outlives_the_thread_that_started_it()
    {
        ExternalTool.Require("setpriv");
        Process? child = null;
        // The starting thread ends only once setpriv has set the signal and exec'd sleep (/proc shows
        // sleep), so a signal tied to that thread would come.
        var starter = new Thread(() =>
        {
            child = TiedProcess.Start(new ProcessStartInfo("sleep", ["30"]));
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!child.HasExited && File.ReadAllText($"/proc/{child.Id}/comm").Trim() != "sleep" && DateTime.UtcNow < deadline)
                Thread.Sleep(20);
        });
        starter.Start();
        starter.Join();
        using var started = child!;
        try
        {
            await Task.Delay(500, TestContext.Current.CancellationToken);
            Assert.False(started.HasExited, "the child died with the thread that started it");
        }
        finally
        {
            if (!started.HasExited)
                started.Kill();
            await started.WaitForExitAsync(CancellationToken.None);
        }
    }
}
