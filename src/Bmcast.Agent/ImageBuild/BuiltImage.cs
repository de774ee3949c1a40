namespace Bmcast.Agent.ImageBuild;

/// <summary>A sample image in the cache: where it is and whether this run built it.</summary>
/// <param name="RecipeHash">SHA-256 of the recipe files (see <see cref="RecipeDirectory.HashOf"/>).</param>
/// <param name="FromCache">Reused a previous build; <paramref name="BuildSeconds"/> is then 0.</param>
public sealed record BuiltImage(string Name, string Path, string RecipeHash, bool FromCache, double BuildSeconds, long SizeBytes);
