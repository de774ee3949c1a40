namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Smoothed round-trip time and its variation (RFC 6298, in <see cref="System.Diagnostics.Stopwatch"/> ticks);
/// the retransmission timeout is srtt + 4 * rttvar, clamped. AoE replies echo the tag, and every send has a
/// fresh one, so every reply is a sample of the send it answers (Karn's ambiguity does not arise).
/// </summary>
/// <remarks>
/// Replies come hundreds per round trip, each a sample, so rttvar forgets a pause within one window of fast replies,
/// and the timeout falls back to its floor between pauses. On a loaded machine a pause (a descheduled initiator or
/// target) comes every few hundred milliseconds and is not loss: each then expired the whole window. So a pause proven
/// harmless, a reply to a send already resent, raises the floor to twice its length (<see cref="LearnPause"/>, the idea of
/// Eifel's response, RFC 4015), and the raised floor halves every <c>pauseHalfLife</c>, back to the configured one.
/// </remarks>
internal sealed class RttEstimator(long initialTimeout, long minTimeout, long maxTimeout, long pauseHalfLife)
{
    private double _smoothed;
    private double _variation;
    private bool _sampled;
    private long _pauseFloor;
    private long _pauseLearntAt;

    /// <summary>The timeout for a first send at <paramref name="now"/>.</summary>
    public long TimeoutAt(long now) => _sampled
        ? Math.Clamp((long)(_smoothed + 4 * _variation), FloorAt(now), maxTimeout)
        : initialTimeout;

    /// <summary>The configured floor, or the one a recent pause raised, whichever is higher.</summary>
    private long FloorAt(long now)
    {
        if (_pauseFloor <= minTimeout)
            return minTimeout;
        long halvings = (now - _pauseLearntAt) / pauseHalfLife;
        return halvings >= 62 ? minTimeout : Math.Max(minTimeout, _pauseFloor >> (int)halvings);
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

    /// <summary>A send answered only after it had timed out and been resent took <paramref name="delay"/>: wait that out from now on.</summary>
    public void LearnPause(long delay, long now)
    {
        _pauseFloor = Math.Min(maxTimeout, Math.Max(FloorAt(now), 2 * delay));
        _pauseLearntAt = now;
    }

    /// <summary>How long a request sent <paramref name="transmissions"/> times may wait: the timeout doubled per resend, capped.</summary>
    public long TimeoutFor(int transmissions, long now) =>
        Math.Min(maxTimeout, TimeoutAt(now) << Math.Min(transmissions - 1, 16));
}
