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
    public async Task Posted_steps_run_in_order_wake_a_sleeping_worker_and_drain_before_the_workers_end()
    {
        // The workers' queue sleeps instead of spinning (WorkerQueue): a worker asleep must wake for the next post,
        // and disposal must still run everything posted before it.
        var ct = TestContext.Current.CancellationToken;
        var workers = new LowPriorityScheduler(1);
        var order = new List<int>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        workers.Post(() => { order.Add(0); first.SetResult(); });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        await Task.Delay(100, ct); // the worker is asleep by now
        var last = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (int i = 1; i <= 1000; i++)
        {
            int step = i;
            workers.Post(() => order.Add(step));
        }
        workers.Post(() => last.SetResult());
        workers.Dispose();
        await last.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);

        Assert.Equal(Enumerable.Range(0, 1001), order);
        Assert.Throws<InvalidOperationException>(() => workers.Post(() => { }));
    }

    [Fact]
    public async Task Workers_get_almost_no_CPU_beside_a_busy_thread_at_normal_priority_on_every_core()
    {
        // The reason the copier runs here: beside a CPU-bound guest it must take (almost) nothing. On each core
        // the process may use, one worker spins beside one normal-priority spinner, both pinned to that core so
        // that only their weights decide (left to the load balancer, other tests' threads could leave a worker
        // a core of its own for a while: 24% in one run). Nice 19 weighs 15 against 1024, so a worker should
        // get ~1.5% of what its spinner gets; the bound leaves room for a loaded machine.
        Assert.SkipUnless(OperatingSystem.IsLinux(), "nice per thread is Linux's");
        var ct = TestContext.Current.CancellationToken;
        int[] cpus = AllowedCpus();
        using var workers = new LowPriorityScheduler(cpus.Length);
        var stop = false;
        var normal = new long[cpus.Length];
        var low = new long[cpus.Length];
        using var started = new CountdownEvent(2 * cpus.Length);
        using var ended = new CountdownEvent(cpus.Length);
        var spinners = Enumerable.Range(0, cpus.Length).Select(i => new Thread(() => Spin(cpus[i], ref normal[i], started, ref stop))).ToList();
        spinners.ForEach(t => t.Start());
        for (int i = 0; i < cpus.Length; i++)
        {
            int worker = i;
            workers.Post(() =>
            {
                Spin(cpus[worker], ref low[worker], started, ref stop);
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

    /// <summary>Pin the calling thread to <paramref name="cpu"/>, then count until told to stop.</summary>
    private static void Spin(int cpu, ref long count, CountdownEvent started, ref bool stop)
    {
        var mask = new byte[CpuMaskBytes];
        mask[cpu / 8] = (byte)(1 << (cpu % 8));
        Assert.True(SchedSetAffinity(0, mask.Length, mask) == 0, $"cannot pin a thread to CPU {cpu}");
        started.Signal();
        while (!Volatile.Read(ref stop))
            count++;
    }

    /// <summary>The CPUs this process may run on (its affinity mask).</summary>
    private static int[] AllowedCpus()
    {
        var mask = new byte[CpuMaskBytes];
        Assert.True(SchedGetAffinity(0, mask.Length, mask) == 0, "sched_getaffinity failed");
        return [.. Enumerable.Range(0, mask.Length * 8).Where(cpu => (mask[cpu / 8] & (1 << (cpu % 8))) != 0)];
    }

    private const int CpuMaskBytes = 128;

    [DllImport("libc", EntryPoint = "sched_setaffinity")]
    private static extern int SchedSetAffinity(int pid, nint size, byte[] mask);

    [DllImport("libc", EntryPoint = "sched_getaffinity")]
    private static extern int SchedGetAffinity(int pid, nint size, byte[] mask);

    [DllImport("libc", EntryPoint = "getpriority")]
    private static extern int GetPriority(int which, int who);

    [DllImport("libc", EntryPoint = "sched_getscheduler")]
    private static extern int SchedGetScheduler(int pid);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
