using System.Runtime.InteropServices;
using Bmcast.Engine;

namespace Bmcast.Tests.Engine;

public sealed class IdlePrioritySchedulerTests
{
    [Fact]
    public async Task Work_and_its_continuations_run_on_one_thread_in_SCHED_IDLE()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "SCHED_IDLE is Linux's");
        var ct = TestContext.Current.CancellationToken;
        var scheduler = IdlePriorityScheduler.Shared;
        var (before, after, policy) = await RunAndObserveAsync(scheduler, ct);

        Assert.Equal(before, after);
        Assert.NotEqual(Environment.CurrentManagedThreadId, after);
        Assert.True(scheduler.IsIdle, scheduler.Problem);
        Assert.Equal(5, policy); // SCHED_IDLE
    }

    private static async Task<(int Before, int After, int Policy)> RunAndObserveAsync(IdlePriorityScheduler scheduler, CancellationToken ct)
    {
        int before = 0, after = 0, policy = -1;
        await scheduler.RunAsync(async () =>
        {
            before = Environment.CurrentManagedThreadId;
            await Task.Delay(10, ct);
            after = Environment.CurrentManagedThreadId;
            policy = SchedGetScheduler(0);
        }, ct);
        return (before, after, policy);
    }

    [DllImport("libc", EntryPoint = "sched_getscheduler")]
    private static extern int SchedGetScheduler(int pid);
}
