using System.Diagnostics;

namespace Bmcast.Agent.ImageBuild;

/// <summary>
/// Builds a sample image from its recipe unless the cache already holds the build of these exact recipe files. An
/// image built on another (<see cref="RecipeDirectory.BaseOf"/>) has that one built (or taken from the cache) first.
/// </summary>
public sealed class ImageBuilder(RecipeDirectory recipes, ImageCache cache)
{
    /// <param name="force">Rebuild even if cached, the base image too.</param>
    public async Task<BuiltImage> BuildAsync(string name, bool force, Action<string> step, CancellationToken ct)
    {
        string hash = recipes.HashOf(name);
        string path = cache.PathOf(name, hash);
        BuiltImage Cached() => new(name, path, hash, FromCache: true, 0, new FileInfo(path).Length);
        if (!force && File.Exists(path))
            return Cached();
        // Before taking the build lock, which the base's build takes too.
        var baseImage = RecipeDirectory.BaseOf(name) is { } baseName
            ? await BuildAsync(baseName, force, baseStep => step($"{baseName}: {baseStep}"), ct)
            : null;
        await using var buildLock = await cache.LockAsync(ct);
        if (!force && File.Exists(path))
            return Cached(); // another process built it while we waited

        var clock = Stopwatch.StartNew();
        // Built beside its final name and renamed when complete: a failed or interrupted build never looks cached.
        string partial = path + ".partial";
        try
        {
            await RecipeRunner.RunAsync(recipes.ScriptOf(name), partial, cache.WorkDirectory, baseImage?.Path, step, ct);
            File.Move(partial, path, overwrite: true);
        }
        finally
        {
            File.Delete(partial);
        }
        cache.RemoveStale(name, path);
        return new BuiltImage(name, path, hash, FromCache: false, clock.Elapsed.TotalSeconds, new FileInfo(path).Length);
    }
}
