using System.Diagnostics;

namespace Bmcast.Engine;

/// <summary>
/// What the moderation policy needs to know about the guest: when it last did I/O and whether it
/// is waiting on a fetch right now. Written on every guest request, so it is two lock-free fields.
/// </summary>
public sealed class GuestActivity
{
    private long _lastIoTimestamp = long.MinValue / 2;
    private int _onDemandFetches;

    public void NoteIo() => Volatile.Write(ref _lastIoTimestamp, Stopwatch.GetTimestamp());

    public TimeSpan SinceLastIo => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastIoTimestamp));

    public bool IsWaitingOnFetch => Volatile.Read(ref _onDemandFetches) > 0;

    internal void BeginOnDemandFetch() => Interlocked.Increment(ref _onDemandFetches);
    /// <summary>The guest's fetch ended: it counts as guest I/O, so background copy waits an idle gap from here.</summary>
    internal void EndOnDemandFetch()
    {
        NoteIo();
        Interlocked.Decrement(ref _onDemandFetches);
    }
}
