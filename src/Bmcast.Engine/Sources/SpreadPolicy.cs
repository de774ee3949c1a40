namespace Bmcast.Engine.Sources;

/// <summary>
/// Which source takes the next fetch: the healthy one with the fewest fetches in flight (a slow or distant source
/// keeps more in flight and so gets fewer), ties to the one that served fewer bytes so sequential reads alternate.
/// <paramref name="avoid"/> (the source a retried fetch just failed on) is taken only when no other is up.
/// </summary>
internal static class SpreadPolicy
{
    public static SourceMember? Pick(IReadOnlyList<SourceMember> members, SourceMember? avoid)
    {
        SourceMember? best = null;
        foreach (var member in members)
        {
            if (member.Down || member == avoid)
                continue;
            if (best is null || member.Outstanding < best.Outstanding
                || (member.Outstanding == best.Outstanding && member.Bytes < best.Bytes))
                best = member;
        }
        return best ?? (avoid is { Down: false } ? avoid : null);
    }
}
