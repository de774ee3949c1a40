using System.Text.Json.Serialization;

namespace Bmcast.Images;

/// <summary>
/// An image's descriptive metadata, kept as <c>images/NAME/image.json</c> beside its manifest so
/// listings need not decode manifests. The manifest stays the authority on content.
/// </summary>
/// <param name="StoredBytes">Bytes of the image's non-zero chunks: what it costs the store before deduplication.</param>
/// <param name="SourceFormat">Format of the imported file (raw, qcow2, …) before conversion.</param>
/// <param name="SourceFile">Path of the imported file; <see cref="Created"/> is when it was imported.</param>
/// <param name="AoeSlot">
/// The AoE slot the image is exported on (shelf.slot, the shelf being <c>bmcast serve --aoe-shelf</c>): given when
/// the image is published and kept for its life, also when it is replaced; null when all 255 were taken.
/// </param>
public sealed record ImageInfo(
    string Name,
    long Size,
    int ChunkSize,
    long ChunkCount,
    long ZeroChunkCount,
    long StoredBytes,
    string SourceFormat,
    string SourceFile,
    DateTimeOffset Created,
    string RootHash,
    string KeyFingerprint,
    int? AoeSlot = null)
{
    /// <summary>Size of the imported file (before any conversion); null for images imported before it was recorded.</summary>
    public long? SourceSize { get; init; }

    /// <summary>Modification time of the imported file when it was read; null for images imported before it was recorded.</summary>
    public DateTimeOffset? SourceModified { get; init; }

    /// <summary>Enough of the root hash to tell images apart in listings.</summary>
    [JsonIgnore]
    public string RootHashPrefix => RootHash[..12];
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ImageInfo))]
internal sealed partial class ImageInfoJson : JsonSerializerContext;
