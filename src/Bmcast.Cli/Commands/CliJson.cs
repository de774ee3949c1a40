using System.Text.Json.Serialization;
using Bmcast.Images;

namespace Bmcast.Cli.Commands;

/// <summary>Every document the CLI prints with <c>--json</c>, in one camelCase, indented shape.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(List<ImageInfo>))]
[JsonSerializable(typeof(ImportResult))]
[JsonSerializable(typeof(ImageDetails))]
[JsonSerializable(typeof(VerifyReport))]
[JsonSerializable(typeof(RemoveReport))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>What <c>image inspect</c> shows: the stored metadata plus what only the manifest and key can tell.</summary>
internal sealed record ImageDetails(
    ImageInfo Image,
    long NonZeroChunkCount,
    long ManifestBytes,
    bool SignatureValid,
    bool SignedByStoreKey,
    string? StoreKeyFingerprint,
    string ExportName,
    string ManifestExportName,
    string StorePath);

/// <summary>What <c>image rm</c> and <c>image gc</c> did.</summary>
internal sealed record RemoveReport(string? Removed, GarbageReport Garbage);
