namespace Bmcast.Images.Packs;

/// <summary>
/// The published packs at one moment, with a map from every chunk hash to its place. Immutable: the store swaps in
/// a new set when packs come or go, and readers that still hold the old one finish their reads on it. A chunk in
/// several packs (two imports racing, or a compaction cut short) is taken from the newest, so that garbage
/// collection counts the older copies as dead and reclaims them.
/// </summary>
public sealed class PackSet
{
    public static readonly PackSet Empty = new([], new Dictionary<ChunkKey, ChunkLocation>(), [], []);

    private readonly Dictionary<ChunkKey, ChunkLocation> _chunks;
    /// <summary>Every id listed when the set was loaded, damaged ones included.</summary>
    private readonly List<string> _listed;

    private PackSet(IReadOnlyList<PackFile> packs, Dictionary<ChunkKey, ChunkLocation> chunks, IReadOnlyList<string> damaged, List<string> listed)
    {
        Packs = packs;
        _chunks = chunks;
        Damaged = damaged;
        _listed = listed;
    }

    /// <summary>Why each damaged pack was left out (when loaded leniently): their chunks read as missing.</summary>
    public IReadOnlyList<string> Damaged { get; }

    /// <summary>Oldest first (ids sort by creation time).</summary>
    public IReadOnlyList<PackFile> Packs { get; }

    /// <summary>Distinct chunks held.</summary>
    public int Count => _chunks.Count;

    public bool TryLocate(ChunkKey key, out ChunkLocation location) => _chunks.TryGetValue(key, out location);

    public bool Contains(ChunkKey key) => _chunks.ContainsKey(key);

    /// <summary>True when <paramref name="pack"/> holds the copy of the chunk that readers use (not an older duplicate).</summary>
    public bool IsPreferred(ChunkKey key, PackFile pack) => _chunks.TryGetValue(key, out var location) && location.Pack == pack;

    /// <summary>The ids of the published packs in <paramref name="directory"/> (those with an index), sorted.</summary>
    public static List<string> ListIds(string directory)
    {
        if (!Directory.Exists(directory))
            return [];
        var ids = new List<string>();
        foreach (string path in Directory.EnumerateFiles(directory, PackFormat.Prefix + "*" + PackFormat.IndexSuffix))
            if (PackFormat.IdOf(System.IO.Path.GetFileName(path), PackFormat.IndexSuffix) is { } id)
                ids.Add(id);
        ids.Sort(StringComparer.Ordinal);
        return ids;
    }

    /// <summary>
    /// The set of packs published in <paramref name="directory"/> now, reusing those of <paramref name="previous"/>
    /// that are still there; returns it and the packs of <paramref name="previous"/> that are gone (to close once
    /// the new set is in use). A damaged pack throws <see cref="PackFormatException"/> (packs opened here are closed
    /// then) when <paramref name="strict"/>, else it is left out and named in <see cref="Damaged"/>: readers of other
    /// images go on, garbage collection must not.
    /// </summary>
    public static (PackSet Current, List<PackFile> Gone) Load(string directory, PackSet previous, bool strict)
    {
        var damaged = new List<string>();
        var ids = ListIds(directory);
        if (ids.SequenceEqual(previous._listed))
            return (previous, []); // nothing came or went: keep the map rather than rebuild it (nor re-read a damaged index)
        var kept = previous.Packs.ToDictionary(p => p.Id, StringComparer.Ordinal);
        var packs = new List<PackFile>(ids.Count);
        var opened = new List<PackFile>();
        try
        {
            foreach (string id in ids)
            {
                if (kept.Remove(id, out var pack))
                {
                    packs.Add(pack);
                }
                else if (TryOpen(directory, id, strict, damaged) is { } fresh)
                {
                    opened.Add(fresh);
                    packs.Add(fresh);
                }
            }
        }
        catch
        {
            foreach (var pack in opened)
                pack.Dispose();
            throw;
        }
        var chunks = new Dictionary<ChunkKey, ChunkLocation>(packs.Sum(p => p.Index.Entries.Count));
        foreach (var pack in packs) // oldest first: a newer copy overwrites an older one
            foreach (var entry in pack.Index.Entries)
                chunks[entry.Key] = new ChunkLocation(pack, entry.Offset, entry.Length);
        return (new PackSet(packs, chunks, damaged, ids), kept.Values.ToList());
    }

    private static PackFile? TryOpen(string directory, string id, bool strict, List<string> damaged)
    {
        try
        {
            return PackFile.TryOpen(directory, id);
        }
        catch (PackFormatException e) when (!strict)
        {
            damaged.Add(e.Message);
            return null;
        }
    }
}
