using System.Runtime.InteropServices;
using Bmcast.Engine;

namespace Bmcast.Tests.Engine;

public sealed class LowPrioritySchedulerTests
{
    [Fact]
    public async Task Work_and_its_continuations_run_on_the_workers_at_nice_19_in_the_normal_policy()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "nice per thread is Linux's");
        var ct = TestContext.Current.CancellationToken;
        var workers = LowPriorityScheduler.Shared;
        bool before = false, after = false;
        int nice = 0, policy = -1;
        await workers.RunAsync(async () =>
        {
            before = workers.IsWorkerThread;
            await Task.Delay(10, ct);
            after = workers.IsWorkerThread;
            nice = GetPriority(0, GetTid());
            policy = SchedGetScheduler(0);
        }, ct);

        Assert.True(before);
        Assert.True(after);
        Assert.False(workers.IsWorkerThread);
        Assert.Null(workers.Problem);
        Assert.Equal(Environment.ProcessorCount, workers.MaximumConcurrencyLevel);
        Assert.Equal(19, nice);
        Assert.Equal(0, policy); // SCHED_OTHER: nice counts only there
    }

    [Fact]
    public async Task Workers_get_almost_no_CPU_beside_a_busy_thread_at_normal_priority_on_every_core()
    {
        // The reason the copier runs here: beside a CPU-bound guest it must take (almost) nothing. Every
        // worker spins beside one normal-priority spinner per core; nice 19 weighs 15 against 1024, so a
        // worker should get ~1.5% of what a spinner gets (the bound leaves room for a loaded machine).
        Assert.SkipUnless(OperatingSystem.IsLinux(), "nice per thread is Linux's");
        var ct = TestContext.Current.CancellationToken;
        int cores = Environment.ProcessorCount;
        using var workers = new LowPriorityScheduler(cores);
        var stop = false;
        var normal = new long[cores];
        var low = new long[cores];
        using var started = new CountdownEvent(2 * cores);
        using var ended = new CountdownEvent(cores);
        var spinners = Enumerable.Range(0, cores).Select(i => new Thread(() => Spin(ref normal[i], started, ref stop))).ToList();
        spinners.ForEach(t => t.Start());
        for (int i = 0; i < cores; i++)
        {
            int worker = i;
            workers.Post(() =>
            {
                Spin(ref low[worker], started, ref stop);
                ended.Signal();
            });
        }
        Assert.True(started.Wait(TimeSpan.FromSeconds(30), ct), "spinners did not start");
        await Task.Delay(2000, ct);
        Volatile.Write(ref stop, true);
        spinners.ForEach(t => t.Join());
        Assert.True(ended.Wait(TimeSpan.FromSeconds(30), ct), "workers did not stop spinning");

        double lowShare = (double)low.Sum() / normal.Sum();
        Assert.True(lowShare < 0.15, $"low-priority workers spun {lowShare:P1} of what normal threads did");
    }

    private static void Spin(ref long count, CountdownEvent started, ref bool stop)
    {
        started.Signal();
        while (!Volatile.Read(ref stop))
            count++;
    }

    [DllImport("libc", EntryPoint = "getpriority")]
    private static extern int GetPriority(int which, int who);

    [DllImport("libc", EntryPoint = "sched_getscheduler")]
    private static extern int SchedGetScheduler(int pid);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
