using System.Text.Json.Serialization;
using Bmcast.Agent.ImageBuild;
using Bmcast.Images;

namespace Bmcast.Cli.Output;

/// <summary>What <c>image build --json</c> prints: the cached image, where it was copied, and the import if any.</summary>
internal sealed record ImageBuildReport(BuiltImage Image, string? Output, ImportResult? Import);

/// <summary>The build report's JSON shape, the same camelCase, indented style as the other image commands.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ImageBuildReport))]
internal sealed partial class ImageBuildJson : JsonSerializerContext;
