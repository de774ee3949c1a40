using System.Text.RegularExpressions;

namespace Bmcast.Agent.ImageBuild;

/// <summary>
/// Built images under <c>$XDG_CACHE_HOME/bmcast/images</c> (default <c>~/.cache/...</c>), one file per
/// image named by its recipe hash, plus the recipes' work directory (downloaded packages kept between builds).
/// </summary>
public sealed partial class ImageCache(string root)
{
    public string Root { get; } = root;

    public string WorkDirectory => Path.Combine(Root, "work");

    public static ImageCache Default()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string cache = string.IsNullOrEmpty(xdg)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
            : xdg;
        return new ImageCache(Path.Combine(cache, "bmcast", "images"));
    }

    public string PathOf(string name, string recipeHash) => Path.Combine(Root, $"{name}-{recipeHash[..16]}.img");

    /// <summary>Delete this image's builds from older recipes, so the cache holds one per image.</summary>
    public void RemoveStale(string name, string current)
    {
        foreach (string file in Directory.EnumerateFiles(Root, "*.img"))
            if (file != current && CachedImage().Match(Path.GetFileName(file)) is { Success: true } match && match.Groups[1].Value == name)
                File.Delete(file);
    }

    /// <summary>
    /// Hold the build lock (an exclusive open, which .NET backs with flock), waiting for another build to
    /// finish: builds share the work directory (downloaded packages, the debootstrap cache) and a
    /// recipe's scratch directory, so one runs at a time.
    /// </summary>
    public async Task<FileStream> LockAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Root);
        string path = Path.Combine(Root, "build.lock");
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    [GeneratedRegex(@"^(.+)-[0-9a-f]{16}\.img$")]
    private static partial Regex CachedImage();
}
