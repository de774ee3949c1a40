namespace Bmcast.Engine;

/// <summary>
/// What loading a state file did about pages that matched neither of their checksums: the chunks they claimed were
/// re-verified against the manifest and kept, or cleared (to be fetched again); and about pages loaded from one slot
/// while the other may have held a newer commit that failed its checksum.
/// </summary>
public sealed class StateRepair
{
    public int DamagedPages { get; internal set; }

    /// <summary>Pages loaded from one slot while the other, failing its checksum, may have held a newer commit (<see cref="StatePageSlots.MayHaveLostACommit"/>).</summary>
    public int RolledBackPages { get; internal set; }

    public long ChunksKept { get; internal set; }

    public long ChunksCleared { get; internal set; }
}
