namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Smoothed round-trip time and its variation (RFC 6298, in <see cref="System.Diagnostics.Stopwatch"/> ticks);
/// the retransmission timeout is srtt + 4 * rttvar, clamped. AoE replies echo the tag, and every send has a
/// fresh one, so every reply is a sample of the send it answers (Karn's ambiguity does not arise).
/// </summary>
internal sealed class RttEstimator(long initialTimeout, long minTimeout, long maxTimeout)
{
    private double _smoothed;
    private double _variation;
    private bool _sampled;

    public long Timeout => _sampled
        ? Math.Clamp((long)(_smoothed + 4 * _variation), minTimeout, maxTimeout)
        : initialTimeout;

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

    /// <summary>How long a request sent <paramref name="transmissions"/> times may wait: the timeout doubled per resend, capped.</summary>
    public long TimeoutFor(int transmissions) =>
        Math.Min(maxTimeout, Timeout << Math.Min(transmissions - 1, 16));
}
