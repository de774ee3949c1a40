namespace Bmcast.Images.Packs;

/// <summary>
/// Garbage collection's marks in a directory store (<see cref="RemovalGrace"/>): <c>gc/pack-ID</c>, an empty file whose
/// modification time is when a collection first found the pack unreferenced (the bucket's <c>gc/pack-ID</c> objects, on
/// a file system). Written and removed under the store's exclusive lock; read by imports under its shared lock, so
/// they never change while an import runs. Not fsynced: a mark lost to a power cut only makes its pack wait longer.
/// </summary>
internal sealed class PackMarks(string directory)
{
    /// <summary>The marked packs and when each was marked (UTC).</summary>
    public Dictionary<string, DateTime> Load()
    {
        var marks = new Dictionary<string, DateTime>(StringComparer.Ordinal);
        if (!Directory.Exists(directory))
            return marks;
        foreach (string path in Directory.EnumerateFiles(directory, PackFormat.Prefix + "*"))
            marks[Path.GetFileName(path)[PackFormat.Prefix.Length..]] = File.GetLastWriteTimeUtc(path);
        return marks;
    }

    public void Mark(string id)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(PathOf(id), []);
    }

    /// <summary>Remove pack <paramref name="id"/>'s mark, if it has one.</summary>
    public void Unmark(string id)
    {
        if (Directory.Exists(directory))
            File.Delete(PathOf(id));
    }

    /// <summary>Where pack <paramref name="id"/>'s mark is (tests age it).</summary>
    public string PathOf(string id) => Path.Combine(directory, PackFormat.Prefix + id);
}
