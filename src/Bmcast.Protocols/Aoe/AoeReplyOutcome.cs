namespace Bmcast.Protocols.Aoe;

/// <summary>What the initiator made of one received frame.</summary>
public enum AoeReplyOutcome
{
    /// <summary>A request completed with data or config.</summary>
    Completed,
    /// <summary>A request failed with the target's AoE or ATA error.</summary>
    Failed,
    /// <summary>Unparsable, or inconsistent with the request it names: dropped, the request waits on.</summary>
    Malformed,
    /// <summary>Not a reply, or for another address or target.</summary>
    NotForUs,
    /// <summary>A tag nothing waits for: a duplicate, or the reply to a send already timed out and resent.</summary>
    Late,
}
