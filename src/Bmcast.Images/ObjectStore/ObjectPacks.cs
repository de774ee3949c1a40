using Bmcast.Images.Packs;

namespace Bmcast.Images.ObjectStore;

/// <summary>Where a chunk is in the bucket: the pack object's name and the byte range.</summary>
internal readonly record struct ObjectChunkLocation(string PackObject, long Offset, int Length);

/// <summary>
/// The packs published in a bucket (<c>packs/pack-ID.pack</c> with <c>packs/pack-ID.idx</c>, the same formats as the
/// directory store's: <see cref="PackFormat"/>, <see cref="PackIndex"/>), with a map from every chunk hash to its place.
/// A pack is part of the store once its index object exists; both are written once and never changed, so an index is
/// fetched once per process and only <see cref="Refresh"/>'s LIST is repeated. Packs marked by garbage collection
/// (<c>gc/pack-ID</c>) still serve reads but imports do not reuse their chunks: they may be deleted after the grace period.
/// </summary>
internal sealed class ObjectPacks(S3Bucket bucket)
{
    public const string Directory = "packs/";
    public const string MarkDirectory = "gc/";

    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private volatile Snapshot _current = Snapshot.Empty;

    public Snapshot Current => _current;

    public static string PackObject(string id) => Directory + PackFormat.Prefix + id + PackFormat.PackSuffix;

    public static string IndexObject(string id) => Directory + PackFormat.Prefix + id + PackFormat.IndexSuffix;

    public static string MarkObject(string id) => MarkDirectory + PackFormat.Prefix + id;

    /// <summary>List the bucket's indexes and marks (two LIST requests) and fetch the indexes not seen before.</summary>
    public async Task<Snapshot> RefreshAsync(CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken);
        try
        {
            var listed = await bucket.ListAsync(Directory, cancellationToken);
            var ids = listed.Select(o => PackFormat.IdOf(o.Name[Directory.Length..], PackFormat.IndexSuffix)).OfType<string>()
                .Order(StringComparer.Ordinal).ToList();
            var marks = (await bucket.ListAsync(MarkDirectory, cancellationToken))
                .Select(o => o.Name[MarkDirectory.Length..])
                .Where(n => n.StartsWith(PackFormat.Prefix, StringComparison.Ordinal))
                .Select(n => n[PackFormat.Prefix.Length..]).ToHashSet(StringComparer.Ordinal);
            var previous = _current;
            var indexes = new Dictionary<string, PackIndex>(StringComparer.Ordinal);
            var damaged = new List<string>();
            foreach (string id in ids)
            {
                if (previous.Indexes.TryGetValue(id, out var known))
                    indexes[id] = known;
                else if (await TryFetchIndexAsync(id, damaged, cancellationToken) is { } fetched)
                    indexes[id] = fetched;
            }
            return _current = new Snapshot(indexes, marks, damaged);
        }
        finally
        {
            _refreshing.Release();
        }
    }

    private async Task<PackIndex?> TryFetchIndexAsync(string id, List<string> damaged, CancellationToken cancellationToken)
    {
        if (await bucket.TryGetAsync(IndexObject(id), cancellationToken) is not { } bytes)
            return null; // deleted by garbage collection since the listing
        try
        {
            return PackIndex.Decode(bytes);
        }
        catch (PackFormatException e)
        {
            damaged.Add($"{bucket.Location.Key(IndexObject(id))}: {e.Message}");
            return null;
        }
    }

    /// <summary>The packs at one moment. Immutable; a chunk in several packs is read from the newest.</summary>
    public sealed class Snapshot
    {
        public static readonly Snapshot Empty = new(new Dictionary<string, PackIndex>(), [], []);

        private readonly Dictionary<ChunkKey, ObjectChunkLocation> _chunks = new();
        private readonly Dictionary<ChunkKey, string> _packOf = new();

        public Snapshot(Dictionary<string, PackIndex> indexes, HashSet<string> marked, List<string> damaged)
        {
            Indexes = indexes;
            Marked = marked;
            Damaged = damaged;
            foreach (var (id, index) in indexes.OrderBy(p => p.Key, StringComparer.Ordinal)) // oldest first: newer copies win
            {
                string packObject = PackObject(id);
                foreach (var entry in index.Entries)
                {
                    _chunks[entry.Key] = new ObjectChunkLocation(packObject, entry.Offset, entry.Length);
                    _packOf[entry.Key] = id;
                }
            }
        }

        /// <summary>Every published pack's index, by pack id.</summary>
        public IReadOnlyDictionary<string, PackIndex> Indexes { get; }

        /// <summary>Packs garbage collection found unreferenced: deleted once the grace period has passed.</summary>
        public IReadOnlySet<string> Marked { get; }

        /// <summary>Indexes that could not be decoded, with the reason: their chunks read as missing.</summary>
        public IReadOnlyList<string> Damaged { get; }

        public int Count => _chunks.Count;

        public bool TryLocate(ChunkKey key, out ObjectChunkLocation location) => _chunks.TryGetValue(key, out location);

        /// <summary>True when a new manifest may name this chunk without storing it again: it is in a pack garbage collection has not marked.</summary>
        public bool HasReusable(ChunkKey key) => _packOf.TryGetValue(key, out string? id) && !Marked.Contains(id);

        /// <summary>True when <paramref name="id"/> holds the copy of the chunk that readers use.</summary>
        public bool IsPreferred(ChunkKey key, string id) => _packOf.TryGetValue(key, out string? preferred) && preferred == id;
    }
}
