using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Bmcast.Engine;

/// <summary>
/// Runs the background copier on a thread of its own at idle scheduling priority, so copying never
/// takes CPU from the guest (issue 13: a copier beside a CPU-bound guest on 2 cores made streaming
/// slower than copying first). Every continuation of work started here comes back here (awaits
/// capture <see cref="TaskScheduler.Current"/>): the copier's moderation, and the verification and
/// target writes of the chunks it fetches. Guest requests and their on-demand fetches never run
/// here: they stay on the thread pool at normal priority. On Linux the thread is put in
/// <c>SCHED_IDLE</c> (it runs only when a core would otherwise idle; allowed without privileges);
/// elsewhere it gets the lowest managed priority. One thread serves every session of the process
/// (<see cref="Shared"/>) and lives as long as the process: a fill the copier started may still be
/// finishing after its session stopped waiting for it, and its continuations must find a thread.
/// Limit: a background fill that a guest read joins finishes on this thread, at idle priority.
/// </summary>
public sealed class IdlePriorityScheduler : TaskScheduler
{
    private static readonly Lazy<IdlePriorityScheduler> SharedInstance = new(() => new IdlePriorityScheduler());

    private const int SchedIdle = 5;
    private readonly BlockingCollection<Task> _queue = [];
    private readonly Thread _thread;

    private IdlePriorityScheduler()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "bmcast copier (idle priority)" };
        _thread.Start();
    }

    public static IdlePriorityScheduler Shared => SharedInstance.Value;

    /// <summary>Whether the thread runs in SCHED_IDLE; null until it started, false when the OS refused.</summary>
    public bool? IsIdle { get; private set; }

    /// <summary>Why SCHED_IDLE was refused, for the session to log; null when it was not.</summary>
    public string? Problem { get; private set; }

    /// <summary>Start <paramref name="work"/> on the idle thread; its awaits return there.</summary>
    public Task RunAsync(Func<Task> work, CancellationToken ct) =>
        Task.Factory.StartNew(work, ct, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    public override int MaximumConcurrencyLevel => 1;

    protected override void QueueTask(Task task) => _queue.Add(task);

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        Thread.CurrentThread == _thread && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();

    private void Run()
    {
        LowerPriority();
        foreach (var task in _queue.GetConsumingEnumerable())
            TryExecuteTask(task);
    }

    private void LowerPriority()
    {
        if (OperatingSystem.IsLinux())
        {
            // sched_setscheduler with pid 0 changes only the calling thread on Linux.
            int priority = 0;
            if (SchedSetScheduler(0, SchedIdle, ref priority) == 0)
            {
                IsIdle = true;
                return;
            }
            Problem = $"SCHED_IDLE refused (errno {Marshal.GetLastPInvokeError()})";
        }
        IsIdle = false;
        Thread.CurrentThread.Priority = ThreadPriority.Lowest;
    }

    [DllImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static extern int SchedSetScheduler(int pid, int policy, ref int priority);
}
