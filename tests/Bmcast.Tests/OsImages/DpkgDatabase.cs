namespace Bmcast.Tests.OsImages;

/// <summary>
/// What dpkg knows of this machine, read from its database files (one read, rather than a <c>dpkg -S</c> per
/// command): which package installed each command, and which packages every Debian has.
/// </summary>
internal sealed class DpkgDatabase
{
    private const string Root = "/var/lib/dpkg";
    private readonly Dictionary<string, string> _ownerOfCommand = [];
    private readonly HashSet<string> _everywhere = [];

    public static bool Exists => File.Exists(Path.Combine(Root, "status"));

    public static DpkgDatabase Load()
    {
        var database = new DpkgDatabase();
        // info/PACKAGE[:ARCH].list: every path the package installed; merged /usr means either bin directory.
        foreach (string list in Directory.EnumerateFiles(Path.Combine(Root, "info"), "*.list"))
        {
            string package = Path.GetFileNameWithoutExtension(list).Split(':')[0];
            foreach (string path in File.ReadLines(list))
                if (Path.GetFileName(Path.GetDirectoryName(path)) is "bin" or "sbin")
                    database._ownerOfCommand.TryAdd(Path.GetFileName(path), package);
        }
        // status: stanzas of "Field: value" lines; Essential: yes or Priority: required is on every Debian.
        foreach (string stanza in File.ReadAllText(Path.Combine(Root, "status")).Split("\n\n"))
        {
            var fields = stanza.Split('\n').Select(line => line.Split(": ", 2)).Where(f => f.Length == 2)
                .GroupBy(f => f[0]).ToDictionary(g => g.Key, g => g.First()[1].Trim());
            if (fields.TryGetValue("Package", out var name) &&
                (fields.GetValueOrDefault("Essential") == "yes" || fields.GetValueOrDefault("Priority") == "required"))
                database._everywhere.Add(name);
        }
        return database;
    }

    /// <summary>The package that installed <paramref name="command"/> (a file name in a bin or sbin directory), if any.</summary>
    public string? OwnerOf(string command) => _ownerOfCommand.GetValueOrDefault(command);

    /// <summary>Essential or Priority required: installed on every Debian system, the smallest container included.</summary>
    public bool IsOnEveryDebian(string package) => _everywhere.Contains(package);
}
