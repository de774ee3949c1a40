namespace Bmcast.Images;

/// <summary>A chunk whose stored bytes do not match the manifest.</summary>
/// <param name="Offset">Where the chunk is in the image.</param>
/// <param name="Path">The file holding the stored chunk (a pack; empty when missing).</param>
/// <param name="Problem">missing, wrong size, or hash mismatch.</param>
public sealed record BadChunk(long Chunk, long Offset, string Hash, string Path, string Problem)
{
    /// <summary>Where the stored chunk starts in <see cref="Path"/>.</summary>
    public long FileOffset { get; init; }
}

/// <summary>The outcome of <see cref="ImageVerifier"/>: the manifest's integrity and every stored chunk's.</summary>
/// <param name="ManifestError">Why the manifest could not be decoded (then nothing else was checked).</param>
/// <param name="SignedByStoreKey">The signing key is this store's own key, not merely some valid key.</param>
public sealed record VerifyReport(
    string Name,
    string? ManifestError,
    bool SignatureValid,
    bool SignedByStoreKey,
    long ChunksChecked,
    IReadOnlyList<BadChunk> BadChunks)
{
    public bool IsValid => ManifestError is null && SignatureValid && SignedByStoreKey && BadChunks.Count == 0;
}
