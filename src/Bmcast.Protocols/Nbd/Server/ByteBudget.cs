namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Bytes that may be held at once, handed out first come, first served: a request waits until it fits, and waiters are
/// served in order, so a large request is never overtaken forever by small ones. A request larger than the whole limit
/// is granted when nothing is held (it could never fit otherwise).
/// </summary>
/// <remarks>A request that fits at once allocates nothing.</remarks>
internal sealed class ByteBudget(long limit)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _held;

    public long Limit => limit;

    public long Held
    {
        get
        {
            lock (_lock)
                return _held;
        }
    }

    public ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (_waiters.Count == 0 && Fits(bytes))
            {
                Hold(bytes);
                return ValueTask.CompletedTask;
            }
            waiter = new Waiter(bytes);
            waiter.Node = _waiters.AddLast(waiter);
        }
        return new ValueTask(waiter.WaitAsync(this, cancellationToken));
    }

    public void Release(long bytes)
    {
        lock (_lock)
        {
            _held -= bytes;
            GrantWaiters();
        }
    }

    /// <summary>Grant waiters in order while the first fits. Their continuations run elsewhere (the task was made so).</summary>
    private void GrantWaiters()
    {
        while (_waiters.First is { } first && Fits(first.Value.Bytes))
        {
            Hold(first.Value.Bytes);
            _waiters.RemoveFirst();
            first.Value.Granted.TrySetResult();
        }
    }

    private void Hold(long bytes) => _held += bytes;

    private bool Fits(long bytes) => _held + bytes <= limit || _held == 0;

    /// <summary>Leave the queue on cancellation; a waiter granted meanwhile keeps its bytes (its task has succeeded).</summary>
    private void Cancel(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node?.List is null)
                return;
            _waiters.Remove(waiter.Node);
            waiter.Granted.TrySetCanceled();
            GrantWaiters(); // The head may have left: those behind it may fit now.
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }

        public async Task WaitAsync(ByteBudget budget, CancellationToken cancellationToken)
        {
            await using (cancellationToken.Register(() => budget.Cancel(this)))
                await Granted.Task.ConfigureAwait(false);
        }
    }
}
