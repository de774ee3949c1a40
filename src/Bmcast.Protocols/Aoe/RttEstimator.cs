namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Smoothed round-trip time and its variation (RFC 6298, in <see cref="System.Diagnostics.Stopwatch"/> ticks);
/// the retransmission timeout is srtt + 4 * rttvar, clamped. AoE replies echo the tag, and every send has a
/// fresh one, so every reply is a sample of the send it answers (Karn's ambiguity does not arise).
/// </summary>
/// <remarks>
/// Replies come hundreds per round trip, each a sample, so rttvar forgets a pause within one window of fast replies,
/// and the timeout falls back to its floor between pauses. On a loaded machine a pause (a descheduled initiator or
/// target) comes every few hundred milliseconds and is not loss. So a pause proven harmless, a reply to a send already
/// resent, is remembered (<see cref="LearnPause"/>, the idea of Eifel's response, RFC 4015) as twice its length, halving
/// every <c>pauseHalfLife</c>: the initiator waits out a silence that short instead of resending into it. The timeout
/// itself stays as RFC 6298 makes it; a frame lost while other replies keep coming is resent once it has been out
/// longer than the pause remembered (RACK's reordering window: a target may answer out of order), at once when none is.
/// </remarks>
internal sealed class RttEstimator(long initialTimeout, long minTimeout, long maxTimeout, long pauseHalfLife)
{
    private double _smoothed;
    private double _variation;
    private bool _sampled;
    private long _pause;
    private long _pauseLearntAt;

    /// <summary>The timeout for a first send.</summary>
    public long Timeout => _sampled
        ? Math.Clamp((long)(_smoothed + 4 * _variation), minTimeout, maxTimeout)
        : initialTimeout;

    /// <summary>How long a silence (no reply at all) may last at <paramref name="now"/> and still be a pause seen before; 0 when none was.</summary>
    public long PauseAt(long now)
    {
        long halvings = (now - _pauseLearntAt) / pauseHalfLife;
        return _pause == 0 || halvings >= 62 ? 0 : _pause >> (int)halvings;
    }

    public void Sample(long rtt)
    {
        if (!_sampled)
        {
            _smoothed = rtt;
            _variation = rtt / 2.0;
            _sampled = true;
            return;
        }
        _variation = 0.75 * _variation + 0.25 * Math.Abs(_smoothed - rtt);
        _smoothed = 0.875 * _smoothed + 0.125 * rtt;
    }

    /// <summary>A send answered only after it had timed out and been resent took <paramref name="delay"/>: wait such a silence out from now on.</summary>
    public void LearnPause(long delay, long now)
    {
        _pause = Math.Min(maxTimeout, Math.Max(PauseAt(now), 2 * delay));
        _pauseLearntAt = now;
    }

    /// <summary>How long a request sent <paramref name="transmissions"/> times may wait: the timeout doubled per resend, capped.</summary>
    public long TimeoutFor(int transmissions) =>
        Math.Min(maxTimeout, Timeout << Math.Min(transmissions - 1, 16));
}
