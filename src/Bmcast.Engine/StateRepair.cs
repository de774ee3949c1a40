namespace Bmcast.Engine;

/// <summary>
/// What loading a state file did about pages that matched neither of their checksums: the chunks they claimed were
/// re-verified against the manifest and kept, or cleared (to be fetched again).
/// </summary>
public sealed class StateRepair
{
    public int DamagedPages { get; internal set; }

    public long ChunksKept { get; internal set; }

    public long ChunksCleared { get; internal set; }
}
