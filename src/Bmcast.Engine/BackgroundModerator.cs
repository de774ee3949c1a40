using System.Diagnostics;

namespace Bmcast.Engine;

/// <summary>
/// Decides when the background copier may issue its next fetch (DESIGN §4 rule 8): never while the
/// guest waits on an on-demand fetch, only after the guest has been idle for the idle gap, and no
/// faster than the operator's bandwidth cap. With the guest idle and no cap it never waits.
/// </summary>
public sealed class BackgroundModerator(GuestActivity activity, StreamingOptions options)
{
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private long _bytesAdmitted;

    /// <summary>
    /// Wait until <paramref name="bytes"/> more background bytes may be fetched. A predicted guest
    /// read (<paramref name="waitForIdleGuest"/> false) skips the idle wait but not the cap.
    /// </summary>
    public async Task WaitForTurnAsync(int bytes, bool waitForIdleGuest, CancellationToken ct)
    {
        while (waitForIdleGuest && (activity.IsWaitingOnFetch || activity.SinceLastIo < options.IdleGap))
            await Task.Delay(options.IdleGap, ct);
        if (options.BackgroundBytesPerSecond is long cap)
        {
            // A cumulative budget, not a token bucket: simple, and idle time earns no burst beyond
            // what the elapsed time allows since the copier started.
            long admitted = Interlocked.Add(ref _bytesAdmitted, bytes);
            var due = TimeSpan.FromSeconds((double)admitted / cap);
            var elapsed = Stopwatch.GetElapsedTime(_startTimestamp);
            if (due > elapsed)
                await Task.Delay(due - elapsed, ct);
        }
    }
}
