namespace Bmcast.Images;

/// <summary>What a garbage collection of the store did.</summary>
/// <param name="ChunksRemoved">Unreferenced chunks whose bytes were reclaimed.</param>
/// <param name="BytesFreed">How much smaller <c>packs/</c> is on disk.</param>
/// <param name="ChunksKept">Distinct chunks the published manifests reference.</param>
public sealed record GarbageReport(long ChunksRemoved, long BytesFreed, long ChunksKept)
{
    /// <summary>Packs whose live chunks were copied into new packs before they were deleted.</summary>
    public int PacksRewritten { get; init; }

    /// <summary>Packs deleted: those rewritten and those with no live chunk.</summary>
    public int PacksRemoved { get; init; }

    /// <summary>Unreferenced packs kept until the grace period has passed (an object store's servers may still read them).</summary>
    public int PacksWaiting { get; init; }

    /// <summary>Unreferenced bytes left in packs that are mostly live (not worth rewriting yet).</summary>
    public long DeadBytesKept { get; init; }
}
