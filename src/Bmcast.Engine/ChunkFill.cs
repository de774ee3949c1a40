using System.Runtime.CompilerServices;

namespace Bmcast.Engine;

/// <summary>
/// One chunk, or a run of adjacent chunks the background copier fetches in one source read, on its way from
/// absent to present: its state, the priority it is fetched at (raised to
/// on-demand when a guest request joins a background fill), its turn at the source, the flush epoch
/// its blocks are marked present under, and the one completion every waiter shares. Every fill
/// completes exactly once, successfully or with the error that ended it, and only after it has left
/// the table of fills, so a waiter woken by a failure that tries again starts a fresh fill. The table maps every
/// chunk of a run to its one fill: a guest request for any of them joins (and promotes) the whole run.
///
/// Where its work runs: a background fill the copier started on its low-priority workers does its CPU
/// work (verification, target writes) there, stepping back onto them at each <see cref="AtItsPriority"/>;
/// once a guest request joins it (<see cref="Promote"/>), every further step runs on the thread pool at
/// normal priority, and a step already waiting for a worker is taken back from their queue, so the guest
/// never waits for a starved copier thread.
/// </summary>
internal sealed class ChunkFill(long chunk, int count, FetchPriority priority, LowPriorityScheduler? workers)
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _turn;
    private volatile FetchPriority _priority = priority;
    /// <summary>The next step while it waits in the workers' queue; whoever takes it (a worker or <see cref="Promote"/>) runs it.</summary>
    private Action? _parked;

    /// <summary>The first chunk of the fill.</summary>
    public long Chunk { get; } = chunk;

    /// <summary>The longest run: its chunks' verification results fit one bit mask each.</summary>
    public const int MaxCount = 64;

    /// <summary>Adjacent chunks from <see cref="Chunk"/> on: 1, or up to <see cref="MaxCount"/> for a background run.</summary>
    public int Count { get; } = count;

    public ChunkFillState State { get; private set; } = ChunkFillState.Queued;

    /// <summary>Raised to on-demand by <see cref="Promote"/>, never lowered.</summary>
    public FetchPriority Priority => _priority;

    /// <summary>A bit for <paramref name="chunk"/> (one of the fill's) in a mask of the fill's chunks.</summary>
    public ulong BitOf(long chunk) => 1UL << (int)(chunk - Chunk);

    /// <summary>The priority the source queue admitted it at, which is the count it leaves: written under the queue's gate.</summary>
    public FetchPriority? AdmittedAs { get; set; }

    /// <summary>
    /// <see cref="PresenceStateFile.FailedFlushes"/> when the fill took the chunk lock: a flush failing
    /// after that may have lost the blocks it writes, which are then not marked present.
    /// </summary>
    public long FlushEpoch { get; private set; }

    public Task Completion => _completion.Task;

    /// <summary>
    /// A turn to wait for, made only when the queue cannot admit the fill at once (under the queue's gate). Its
    /// continuation runs on the thread that grants the turn (<see cref="GrantTurn"/>).
    /// </summary>
    public Task WaitForTurn() => (_turn ??= new TaskCompletionSource()).Task;

    /// <summary>Whether it waits in the source queue's line (under the queue's gate): admitted fills are granted their turn.</summary>
    public bool IsWaitingForTurn => _turn is { Task.IsCompleted: false };

    /// <summary>
    /// Let the admitted fill go to the source, outside the queue's gate: the fill goes on at once on this thread, up to
    /// its read's first wait, where its step belongs (<see cref="AtItsPriority"/>). A fill leaving the source on a
    /// low-priority worker thus sends the next background read itself, with no hop to the thread pool and back to the
    /// workers in between (two thread wake-ups per run, while the source had one run fewer to serve).
    /// </summary>
    public void GrantTurn() => _turn?.TrySetResult();

    /// <summary>A guest request needs this fill (under the source queue's gate): its remaining work leaves the low-priority workers.</summary>
    public void Promote()
    {
        _priority = FetchPriority.OnDemand;
        // Paired with the exchange in Resume: one of the two sees the other's write.
        if (Interlocked.Exchange(ref _parked, null) is { } step)
            ThreadPool.UnsafeQueueUserWorkItem(static step => step(), step, preferLocal: false);
    }

    /// <summary>
    /// Await before a step of CPU work: continues on a low-priority worker while the fill is a background one
    /// started there, on the thread pool otherwise; at once when already in the right place.
    /// </summary>
    public PriorityHop AtItsPriority() => new(this);

    public void BeginFetching() => State = ChunkFillState.Fetching;

    public void BeginFilling(long flushEpoch)
    {
        State = ChunkFillState.Filling;
        FlushEpoch = flushEpoch;
    }

    public void Complete() => _completion.SetResult();

    public void Fail(Exception error) => _completion.SetException(error);

    /// <summary>Whether the calling thread is where the fill's next step belongs.</summary>
    private bool IsInPlace => workers is null
        || (Priority == FetchPriority.OnDemand
            ? !workers.IsWorkerThread
            // Outside any task: a step started by the copier's own task would make what it awaits return to the workers.
            : workers.IsWorkerThread && TaskScheduler.Current == TaskScheduler.Default);

    private void Resume(Action step)
    {
        if (workers is null || Priority == FetchPriority.OnDemand)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static step => step(), step, preferLocal: false);
            return;
        }
        Interlocked.Exchange(ref _parked, step);
        // Promoted meanwhile: Promote may have looked before the step was parked.
        if (Priority == FetchPriority.OnDemand && Interlocked.Exchange(ref _parked, null) is { } promoted)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static step => step(), promoted, preferLocal: false);
            return;
        }
        workers.Post(RunParked);
    }

    /// <summary>A no-op when <see cref="Promote"/> took the step first.</summary>
    private void RunParked() => Interlocked.Exchange(ref _parked, null)?.Invoke();

    public readonly struct PriorityHop(ChunkFill fill) : ICriticalNotifyCompletion
    {
        public PriorityHop GetAwaiter() => this;

        public bool IsCompleted => fill.IsInPlace;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) => fill.Resume(continuation);

        public void UnsafeOnCompleted(Action continuation) => fill.Resume(continuation);
    }
}
