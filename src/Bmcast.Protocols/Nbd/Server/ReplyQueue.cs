using System.Threading.Tasks.Sources;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Replies waiting for the <see cref="NbdReplyWriter"/>: any thread adds, the writer takes them all at once. Two lists
/// swap places and the writer's wait is a reusable value-task source, so a warm connection allocates nothing here (a
/// <c>Channel</c>'s queue allocates ever larger segments as items pass through it). The writer is woken on the thread
/// pool, never inline on the thread that queued (the parse loop must not end up writing replies), by queueing this
/// object itself: queueing a continuation delegate would allocate a work item per wake-up. It goes to the queueing
/// worker's own queue: that thread runs the writer as soon as it is free (the parse loop waiting for the next
/// requests), unless an idle worker takes it first, so a reply usually needs no hand-over to a sleeping thread.
/// </summary>
internal sealed class ReplyQueue : IValueTaskSource<bool>, IThreadPoolWorkItem
{
    private readonly Lock _lock = new();
    private List<NbdReply> _pending = [];
    private ManualResetValueTaskSourceCore<bool> _wakeUp = new();
    private bool _waiting;
    private bool _completed;

    /// <summary>Queue a reply; false once <see cref="Complete"/> was called.</summary>
    public bool TryAdd(in NbdReply reply)
    {
        lock (_lock)
        {
            if (_completed)
                return false;
            _pending.Add(reply);
            if (!_waiting)
                return true;
            _waiting = false;
        }
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        return true;
    }

    /// <summary>No more replies: the writer's wait ends once it has taken the last.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            _completed = true;
            if (!_waiting)
                return;
            _waiting = false;
        }
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
    }

    /// <summary>Take every queued reply, giving <paramref name="drained"/> (emptied) back as the list that fills next.</summary>
    public List<NbdReply> TakeAll(List<NbdReply> drained)
    {
        drained.Clear();
        lock (_lock)
        {
            var taken = _pending;
            _pending = drained;
            return taken;
        }
    }

    /// <summary>Wait until a reply is queued (true) or the queue is complete and empty (false). One waiter at a time.</summary>
    public ValueTask<bool> WaitAsync()
    {
        lock (_lock)
        {
            if (_pending.Count > 0)
                return ValueTask.FromResult(true);
            if (_completed)
                return ValueTask.FromResult(false);
            _wakeUp.Reset();
            _waiting = true;
            return new ValueTask<bool>(this, _wakeUp.Version);
        }
    }

    /// <summary>Wake the writer: it looks at the queue itself, so true also serves the completed, empty queue.</summary>
    void IThreadPoolWorkItem.Execute() => _wakeUp.SetResult(true);

    bool IValueTaskSource<bool>.GetResult(short token) => _wakeUp.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wakeUp.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wakeUp.OnCompleted(continuation, state, token, flags);
}
