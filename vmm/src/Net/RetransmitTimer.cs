namespace Bmcast.Vmm.Net;

// When to resend an unanswered AoE request: RFC 6298's estimator (smoothed
// round trip plus four deviations), in microseconds, clamped to
// [MinUs, MaxUs]. Fed only by requests answered on their first send (Karn's
// rule: a reply to a resent request could answer either send). On a fast
// link a lost reply is resent after milliseconds, not after a fixed 100 ms;
// a too-early resend only costs a duplicate reply, which is dropped.
internal struct RetransmitTimer
{
    private const ulong InitialUs = 100_000, MinUs = 10_000, MaxUs = 1_000_000;

    private ulong _smoothed, _deviation;
    private bool _measured;

    public ulong TimeoutUs
    {
        get
        {
            if (!_measured)
                return InitialUs;
            ulong timeout = _smoothed + 4 * _deviation;
            return timeout < MinUs ? MinUs : timeout > MaxUs ? MaxUs : timeout;
        }
    }

    public void Sample(ulong roundTripUs)
    {
        if (!_measured)
        {
            _smoothed = roundTripUs;
            _deviation = roundTripUs / 2;
            _measured = true;
            return;
        }
        ulong difference = roundTripUs > _smoothed ? roundTripUs - _smoothed : _smoothed - roundTripUs;
        _deviation = (3 * _deviation + difference) / 4;
        _smoothed = (7 * _smoothed + roundTripUs) / 8;
    }

    // Each resend of a request doubles its own timeout (up to MaxUs).
    public static ulong Backoff(ulong timeoutUs) => timeoutUs * 2 > MaxUs ? MaxUs : timeoutUs * 2;
}
