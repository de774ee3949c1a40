using System.Diagnostics;

namespace Bmcast.Engine;

/// <summary>
/// Decides when the background copier may issue its next fetch (DESIGN §4 rule 8): never while the
/// guest waits on an on-demand fetch, only after the guest has been idle for the idle gap, and no
/// faster than the operator's bandwidth cap. With the guest idle and no cap it always admits. It
/// answers at once (<see cref="Admission"/>); a throttled answer says how long until the earliest
/// moment the answer can change, so the copier sleeps once instead of polling.
/// </summary>
public sealed class BackgroundModerator(GuestActivity activity, StreamingOptions options)
{
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private long _bytesAdmitted;

    /// <summary>
    /// May <paramref name="bytes"/> more background bytes be fetched now? A predicted guest read
    /// (<paramref name="waitForIdleGuest"/> false) skips the idle wait but not the cap.
    /// </summary>
    public Admission TryAdmit(int bytes, bool waitForIdleGuest)
    {
        if (waitForIdleGuest)
        {
            // The guest's fetch ending is itself guest I/O: the idle gap runs from then on.
            if (activity.IsWaitingOnFetch)
                return Admission.Throttled(options.IdleGap);
            var sinceIo = activity.SinceLastIo;
            if (sinceIo < options.IdleGap)
                return Admission.Throttled(options.IdleGap - sinceIo);
        }
        if (options.BackgroundBytesPerSecond is long cap)
        {
            // A cumulative budget, not a token bucket: simple, and idle time earns no burst beyond
            // what the elapsed time allows since the copier started. The bytes are admitted once
            // the time they are due has come.
            long admitted = Interlocked.Read(ref _bytesAdmitted) + bytes;
            var due = TimeSpan.FromSeconds((double)admitted / cap);
            var elapsed = Stopwatch.GetElapsedTime(_startTimestamp);
            if (due > elapsed)
                return Admission.Throttled(due - elapsed);
            Interlocked.Add(ref _bytesAdmitted, bytes);
        }
        return Admission.Admitted;
    }

    /// <summary>
    /// Count <paramref name="bytes"/> fetched beyond what was admitted (the rest of a run admitted by its first chunk)
    /// against the cap: later admissions wait for them.
    /// </summary>
    public void Spend(long bytes)
    {
        if (options.BackgroundBytesPerSecond is not null)
            Interlocked.Add(ref _bytesAdmitted, bytes);
    }
}
