namespace Bmcast.Engine;

/// <summary>
/// The low-priority workers' queue: first in, first out, and a worker with nothing to do sleeps at once instead of
/// spinning. <see cref="System.Collections.Concurrent.BlockingCollection{T}"/>, its predecessor, waits on a
/// <see cref="SemaphoreSlim"/> that spins with <c>sched_yield</c> before it sleeps: a perf profile of the engine
/// streaming 1 GiB (issue 13) found the copier's threads spending ~9% of the agent's CPU there, between steps that
/// arrive every few hundred microseconds. A post wakes a sleeping worker only when one sleeps.
/// </summary>
internal sealed class WorkerQueue
{
    private readonly Queue<object> _items = new();
    private int _sleeping;
    private bool _completed;

    public void Add(object item)
    {
        lock (_items)
        {
            if (_completed)
                throw new InvalidOperationException("the workers were disposed");
            _items.Enqueue(item);
            if (_sleeping > 0)
                Monitor.Pulse(_items);
        }
    }

    /// <summary>No more items: the workers end once the queue is empty.</summary>
    public void Complete()
    {
        lock (_items)
        {
            _completed = true;
            Monitor.PulseAll(_items);
        }
    }

    /// <summary>The next item, waiting for one; false once completed and empty.</summary>
    public bool TryTake(out object item)
    {
        lock (_items)
        {
            while (!_items.TryDequeue(out item!))
            {
                if (_completed)
                    return false;
                _sleeping++;
                Monitor.Wait(_items);
                _sleeping--;
            }
            return true;
        }
    }

    public object[] ToArray()
    {
        lock (_items)
            return _items.ToArray();
    }
}
