namespace Bmcast.Protocols.Aoe;

/// <summary>
/// How many requests may be outstanding. Until the first loss it grows by one per reply (doubling every
/// round trip, TCP's slow start), so a clean link reaches the ceiling within a few round trips rather than
/// thousands of replies; after that, additive increase (about one per window of replies), and multiplicative
/// decrease on a timeout, at most once per <c>hold</c> (the caller's timeout period) so one burst of loss
/// halves it once.
/// </summary>
internal sealed class CongestionWindow(int initial, int max)
{
    private double _size = Math.Clamp(initial, 1, max);
    private long _lastDecrease = long.MinValue / 2;
    private bool _slowStart = true;
    private double _beforeDecrease;

    public int Max { get; private set; } = max;

    public int Current => (int)_size;

    /// <summary>Lower the ceiling, e.g. to the target's advertised buffer count.</summary>
    public void Limit(int max)
    {
        Max = Math.Max(1, Math.Min(Max, max));
        _size = Math.Min(_size, Max);
    }

    public void OnReply() => _size = Math.Min(Max, _size + (_slowStart ? 1 : 1 / _size));

    public void OnLoss(long now, long hold)
    {
        _slowStart = false;
        if (now - _lastDecrease < hold)
            return;
        _beforeDecrease = _size;
        _size = Math.Max(1, _size / 2);
        _lastDecrease = now;
    }

    /// <summary>The last decrease answered a timeout that turned out spurious (the first send's reply came): take it back.</summary>
    public void UndoLoss()
    {
        _size = Math.Max(_size, _beforeDecrease);
        _beforeDecrease = 0;
    }
}
