using System.Diagnostics;

namespace Bmcast.Agent.ImageBuild;

/// <summary>Builds a sample image from its recipe unless the cache already holds the build of these exact recipe files.</summary>
public sealed class ImageBuilder(RecipeDirectory recipes, ImageCache cache)
{
    public async Task<BuiltImage> BuildAsync(string name, bool force, Action<string> step, CancellationToken ct)
    {
        string hash = recipes.HashOf(name);
        string path = cache.PathOf(name, hash);
        BuiltImage Cached() => new(name, path, hash, FromCache: true, 0, new FileInfo(path).Length);
        if (!force && File.Exists(path))
            return Cached();
        await using var buildLock = await cache.LockAsync(ct);
        if (!force && File.Exists(path))
            return Cached(); // another process built it while we waited

        var clock = Stopwatch.StartNew();
        // Built beside its final name and renamed when complete: a failed or interrupted build never looks cached.
        string partial = path + ".partial";
        try
        {
            await RecipeRunner.RunAsync(recipes.ScriptOf(name), partial, cache.WorkDirectory, step, ct);
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
