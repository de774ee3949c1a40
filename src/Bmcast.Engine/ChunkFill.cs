namespace Bmcast.Engine;

/// <summary>
/// One chunk on its way from absent to present: its state, the priority it is fetched at (raised to
/// on-demand when a guest request joins a background fill), its turn at the source, the flush epoch
/// its blocks are marked present under, and the one completion every waiter shares. Every fill
/// completes exactly once, successfully or with the error that ended it, and only after it has left
/// the table of fills, so a waiter woken by a failure that tries again starts a fresh fill.
/// </summary>
internal sealed class ChunkFill(long chunk, FetchPriority priority)
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _turn;

    public long Chunk { get; } = chunk;

    public ChunkFillState State { get; private set; } = ChunkFillState.Queued;

    /// <summary>Written only under the source queue's gate.</summary>
    public FetchPriority Priority { get; set; } = priority;

    /// <summary>The priority the source queue admitted it at, which is the count it leaves: written under the queue's gate.</summary>
    public FetchPriority? AdmittedAs { get; set; }

    /// <summary>
    /// <see cref="PresenceStateFile.FailedFlushes"/> when the fill took the chunk lock: a flush failing
    /// after that may have lost the blocks it writes, which are then not marked present.
    /// </summary>
    public long FlushEpoch { get; private set; }

    public Task Completion => _completion.Task;

    /// <summary>A turn to wait for, made only when the queue cannot admit the fill at once (under the queue's gate).</summary>
    public Task WaitForTurn() => (_turn ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Whether it waits in the source queue's line (under the queue's gate).</summary>
    public bool IsWaitingForTurn => _turn is { Task.IsCompleted: false };

    public void GrantTurn() => _turn?.TrySetResult();

    public void BeginFetching() => State = ChunkFillState.Fetching;

    public void BeginFilling(long flushEpoch)
    {
        State = ChunkFillState.Filling;
        FlushEpoch = flushEpoch;
    }

    public void Complete() => _completion.SetResult();

    public void Fail(Exception error) => _completion.SetException(error);
}
