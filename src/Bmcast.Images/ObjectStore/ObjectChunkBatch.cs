using Bmcast.Images.Packs;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// Adds an import's new chunks to a bucket: they are appended to a pack in a local staging directory
/// (<see cref="PackWriter"/>), and each pack, once it holds <see cref="ChunkBatch.MaxPackBytes"/> or
/// <paramref name="maxPendingChunks"/> chunks (and at <see cref="Commit"/>), is uploaded as two immutable objects:
/// the pack first, then its index, which makes it part of the store. An import cut short leaves at worst a pack
/// without an index (garbage, deleted by gc) and packs whose chunks a rerun finds and does not send again.
/// Chunks already in a pack garbage collection has not marked are not stored again. Thread-safe.
/// </summary>
internal sealed class ObjectChunkBatch(S3Bucket bucket, ObjectPacks packs, string stagingDirectory, int maxPendingChunks) : IChunkBatch
{
    private readonly Lock _gate = new();
    private readonly ObjectPacks.Snapshot _stored = packs.Current;
    private readonly Dictionary<ChunkKey, PackEntry> _pending = new();
    private readonly HashSet<ChunkKey> _uploaded = new();
    private PackWriter? _pack;

    public long NewChunks { get; private set; }

    public long NewBytes { get; private set; }

    public void Add(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> data)
    {
        var key = ChunkKey.From(hash);
        if (_stored.HasReusable(key))
            return;
        lock (_gate)
        {
            if (_pending.ContainsKey(key) || _uploaded.Contains(key))
                return;
            _pack ??= new PackWriter(stagingDirectory);
            _pending.Add(key, new PackEntry(key, _pack.Append(data), data.Length));
            if (_pack.Length >= ChunkBatch.MaxPackBytes || _pending.Count >= maxPendingChunks)
                UploadLocked();
        }
    }

    public void Commit()
    {
        lock (_gate)
            UploadLocked();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _pack?.Dispose();
            _pack = null;
            _pending.Clear();
        }
    }

    private void UploadLocked()
    {
        if (_pack is null)
            return;
        using var pack = _pack;
        _pack = null;
        var entries = _pending.Values.ToList();
        pack.Publish(entries); // seals the staged pack and writes its index beside it
        string index = PackFormat.IndexPath(stagingDirectory, pack.Id);
        try
        {
            bucket.PutFileAsync(ObjectPacks.PackObject(pack.Id), pack.Path, CancellationToken.None).GetAwaiter().GetResult();
            bucket.PutFileAsync(ObjectPacks.IndexObject(pack.Id), index, CancellationToken.None).GetAwaiter().GetResult();
        }
        finally
        {
            File.Delete(pack.Path);
            File.Delete(index);
        }
        NewChunks += entries.Count;
        NewBytes += entries.Sum(e => (long)e.Length);
        foreach (var entry in entries)
            _uploaded.Add(entry.Key);
        _pending.Clear();
    }
}
