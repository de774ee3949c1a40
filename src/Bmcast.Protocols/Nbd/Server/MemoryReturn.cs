using System.Diagnostics;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Gives memory back to the system after connections that held large replies have ended. What such connections leave
/// behind (the pipe's pooled segments that reads were written into, the heap the runtime grew meanwhile) becomes
/// garbage the runtime keeps until a full collection, and a server that then idles may not allocate enough to cause one for minutes
/// (the server-memory campaign measured 129 MiB still held 30 s after four such clients closed; with the batching
/// reply writer and no collection, still 146 MiB). So a full,
/// compacting collection that decommits what it frees runs shortly after such a connection ends: once for a burst of
/// them, at most once per <see cref="MinimumInterval"/>, on the thread pool, never on a connection's path.
/// </summary>
internal sealed class MemoryReturn
{
    /// <summary>A connection whose requests held at least this much at once is worth a collection when it ends.</summary>
    public const long LargeConnectionBytes = 16L << 20;

    /// <summary>Connections that end together (a client with several connections, a wave of them) share one collection.</summary>
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(5);

    private long _lastCollection;
    private int _scheduled;

    /// <summary>A connection that held <paramref name="peakBytes"/> at once has ended.</summary>
    public void ConnectionEnded(long peakBytes)
    {
        if (peakBytes < LargeConnectionBytes || Interlocked.Exchange(ref _scheduled, 1) == 1)
            return;
        _ = Task.Run(CollectAsync);
    }

    private async Task CollectAsync()
    {
        var wait = Delay;
        long last = Interlocked.Read(ref _lastCollection);
        if (last != 0 && MinimumInterval - Stopwatch.GetElapsedTime(last) is var left && left > wait)
            wait = left;
        await Task.Delay(wait).ConfigureAwait(false);
        Volatile.Write(ref _scheduled, 0);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Exchange(ref _lastCollection, Stopwatch.GetTimestamp());
    }
}
