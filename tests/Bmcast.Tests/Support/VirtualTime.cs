using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace Bmcast.Tests.Support;

/// <summary>
/// Runs asynchronous code on the calling thread against a <see cref="FakeTimeProvider"/>, and moves the clock on only
/// when every continuation that was ready has run. Durations then come out exactly as the code computes them, however
/// loaded the machine is: a test of timing rules need not leave room for the host's timers. The code under test must
/// wait only on <paramref name="time"/>'s timers and must not leave the calling thread (no <c>ConfigureAwait(false)</c>
/// over real I/O), or the clock could move while it still runs.
/// </summary>
internal static class VirtualTime
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan Limit = TimeSpan.FromHours(1);

    public static T Run<T>(FakeTimeProvider time, Func<Task<T>> body)
    {
        var previous = SynchronizationContext.Current;
        var context = new QueueContext();
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            var start = time.GetUtcNow();
            var task = body();
            while (true)
            {
                context.RunReady();
                if (task.IsCompleted)
                    return task.GetAwaiter().GetResult();
                if (time.GetUtcNow() - start > Limit)
                    throw new TimeoutException($"still running after {Limit} of virtual time");
                time.Advance(Step);
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }

    /// <summary>Continuations queued here run only in <see cref="RunReady"/>, on the thread that calls it.</summary>
    private sealed class QueueContext : SynchronizationContext
    {
        private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _ready = new();

        public override void Post(SendOrPostCallback d, object? state) => _ready.Enqueue((d, state));

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("no synchronous sends on virtual time");

        public void RunReady()
        {
            while (_ready.TryDequeue(out var item))
                item.Callback(item.State);
        }
    }
}
