using System.Security.Cryptography;
using System.Text;

namespace Bmcast.Agent.ImageBuild;

/// <summary>
/// The repository's <c>images/</c> directory: one shell recipe per sample image
/// (<c>NAME.sh</c>), the shared <c>lib.sh</c>, the guest scripts every image installs
/// (<c>guest/</c>) and per-image files in a directory named after the image.
/// </summary>
public sealed class RecipeDirectory
{
    /// <summary>Overrides where the recipes are looked for (an installed CLI has no repository beside it).</summary>
    public const string EnvironmentVariable = "BMCAST_IMAGES_DIR";

    public static readonly IReadOnlyList<string> Names = ["tiny", "tiny-payload", "debian", "debian-db"];

    /// <summary>
    /// Images whose recipe starts from another image's build (handed to it as <see cref="BaseImageVariable"/>) rather
    /// than from packages: <c>tiny-payload</c> is <c>tiny</c> plus a data partition, so it reuses tiny's cached build.
    /// </summary>
    private static readonly Dictionary<string, string> Bases = new() { ["tiny-payload"] = "tiny" };

    /// <summary>The environment variable that names the base image's build for a recipe that has one.</summary>
    public const string BaseImageVariable = "BMCAST_BASE_IMAGE";

    private RecipeDirectory(string path) => Path = path;

    public string Path { get; }

    public static RecipeDirectory At(string path) => new(System.IO.Path.GetFullPath(path));

    /// <summary>$BMCAST_IMAGES_DIR, else the first <c>images/</c> with a <c>lib.sh</c> above the CLI or the current directory.</summary>
    public static RecipeDirectory Locate()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured)
            return At(configured);
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "images", "lib.sh")))
                    return At(System.IO.Path.Combine(dir.FullName, "images"));
        throw new IOException($"cannot find the image recipes (images/lib.sh); set {EnvironmentVariable}");
    }

    public string ScriptOf(string name) => System.IO.Path.Combine(Path, name + ".sh");

    /// <summary>The image <paramref name="name"/>'s recipe starts from, or null when it starts from packages.</summary>
    public static string? BaseOf(string name) => Bases.GetValueOrDefault(name);

    /// <summary>
    /// SHA-256 (hex) over every file the recipe reads: <c>lib.sh</c>, <c>NAME.sh</c>, <c>guest/</c>, and the
    /// directories of the images it builds on (<c>debian-db</c> reads <c>debian/</c> and <c>debian-db/</c>).
    /// An image built on another's build (<see cref="BaseOf"/>) covers that one's hash too. Editing anything else, such
    /// as another image's recipe, leaves this image's cache valid.
    /// </summary>
    public string HashOf(string name)
    {
        var files = new List<string> { "lib.sh", name + ".sh" };
        foreach (var dir in Directory.EnumerateDirectories(Path).Select(System.IO.Path.GetFileName).OfType<string>())
            if (dir == "guest" || dir == name || name.StartsWith(dir + "-", StringComparison.Ordinal))
                files.AddRange(Directory.EnumerateFiles(System.IO.Path.Combine(Path, dir), "*", SearchOption.AllDirectories)
                    .Select(file => System.IO.Path.GetRelativePath(Path, file)));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string file in files.Order(StringComparer.Ordinal))
        {
            byte[] content = File.ReadAllBytes(System.IO.Path.Combine(Path, file));
            hash.AppendData(Encoding.UTF8.GetBytes($"{file}\0{content.Length}\0"));
            hash.AppendData(content);
        }
        if (BaseOf(name) is { } baseImage)
            hash.AppendData(Encoding.UTF8.GetBytes($"base\0{baseImage}\0{HashOf(baseImage)}"));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
