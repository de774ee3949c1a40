using System.Runtime.InteropServices;

namespace Bmcast.Engine;

/// <summary>
/// The background copier's threads: one per core, each at the lowest nice value (19), so the copier
/// uses every core the guest leaves idle yet takes almost no CPU from a guest that wants it (issue 13:
/// a copier at normal priority beside a CPU-bound TCG guest on 2 cores made streaming slower than
/// copying first; a single thread in SCHED_IDLE, its first cure, cut the engine's stream rate 2-3x on an
/// idle machine because verification and target writes then had one core).
///
/// Why nice 19 rather than SCHED_IDLE: the kernel weighs a nice-19 thread 15 against a normal one's 1024,
/// so beside a CPU-bound competitor on its core it still gets about 1.5% of it: a progress floor that lets
/// a deployment complete under any load (SCHED_IDLE's weight is 3). Raising one's own nice value needs no
/// privilege; on Linux it is set per thread (setpriority on the thread id). Elsewhere the threads get the
/// lowest managed priority.
///
/// Two kinds of work run here. The copier itself, started by <see cref="RunAsync"/>: its awaits come back
/// here (they capture this scheduler). And <see cref="Post"/>ed steps of background chunk fills (verification,
/// target writes), which run outside any task, so whatever they await resumes on the thread pool, never
/// here: a fill a guest read joins can then leave these threads (<see cref="ChunkFill"/>) and finish at
/// normal priority instead of waiting behind a starved copier. Guest requests and their on-demand fetches
/// never run here. <see cref="Shared"/> serves every session of the process and lives as long as it: a
/// fill the copier started may still be finishing after its session stopped waiting for it.
/// </summary>
public sealed class LowPriorityScheduler : TaskScheduler, IDisposable
{
    private static readonly Lazy<LowPriorityScheduler> SharedInstance = new(() => new LowPriorityScheduler(Environment.ProcessorCount));

    private const int LowestNice = 19;
    private const int PrioProcess = 0;
    private const int SchedOther = 0;
    [ThreadStatic] private static LowPriorityScheduler? t_owner;
    /// <summary>Tasks (the copier) and actions (fill steps, <see cref="Post"/>).</summary>
    private readonly WorkerQueue _queue = new();
    private volatile string? _problem;
    private int _lowered;

    /// <param name="workers">Threads; the shared scheduler has one per core.</param>
    public LowPriorityScheduler(int workers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        MaximumConcurrencyLevel = workers;
        for (int i = 0; i < workers; i++)
            new Thread(Run) { IsBackground = true, Name = $"bmcast copier {i} (low priority)" }.Start();
    }

    public static LowPriorityScheduler Shared => SharedInstance.Value;

    public override int MaximumConcurrencyLevel { get; }

    /// <summary>Workers that run at nice 19 (or the lowest managed priority) so far.</summary>
    public int LoweredWorkers => Volatile.Read(ref _lowered);

    /// <summary>Why a worker could not be put at nice 19, for the session to log; null when none failed.</summary>
    public string? Problem => _problem;

    /// <summary>Whether the calling thread is one of this scheduler's workers.</summary>
    public bool IsWorkerThread => t_owner == this;

    /// <summary>The scheduler whose worker the calling thread is, if any.</summary>
    internal static LowPriorityScheduler? OfCurrentThread => t_owner;

    /// <summary>Start <paramref name="work"/> on a worker; its awaits return to the workers.</summary>
    public Task RunAsync(Func<Task> work, CancellationToken ct) =>
        Task.Factory.StartNew(work, ct, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    /// <summary>Run <paramref name="action"/> on a worker outside any task: what it awaits resumes on the thread pool.</summary>
    public void Post(Action action) => _queue.Add(action);

    /// <summary>Lets the workers end once the queue is empty (the shared scheduler is never disposed).</summary>
    public void Dispose() => _queue.Complete();

    protected override void QueueTask(Task task) => _queue.Add(task);

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        IsWorkerThread && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray().OfType<Task>();

    private void Run()
    {
        t_owner = this;
        LowerPriority();
        while (_queue.TryTake(out object item))
        {
            if (item is Task task)
                TryExecuteTask(task);
            else
                ((Action)item)();
        }
    }

    private void LowerPriority()
    {
        if (OperatingSystem.IsLinux())
        {
            // Both calls change only this thread on Linux (policy and nice are per thread there). The normal policy
            // first: nice means nothing to a real-time thread, and a process run under SCHED_FIFO (as bench/aoe.sh
            // does) would otherwise make the copier real-time too. Leaving a real-time policy needs no privilege.
            int tid = GetTid();
            int realTimePriority = 0;
            if (SchedSetScheduler(tid, SchedOther, ref realTimePriority) != 0 || SetPriority(PrioProcess, tid, LowestNice) != 0)
            {
                _problem = $"normal policy at nice {LowestNice} refused (errno {Marshal.GetLastPInvokeError()}); lowest managed priority instead";
                Thread.CurrentThread.Priority = ThreadPriority.Lowest;
            }
        }
        else
        {
            Thread.CurrentThread.Priority = ThreadPriority.Lowest;
        }
        Interlocked.Increment(ref _lowered);
    }

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static extern int SchedSetScheduler(int pid, int policy, ref int priority);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
