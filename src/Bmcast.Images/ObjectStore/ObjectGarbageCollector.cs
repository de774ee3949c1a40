using Bmcast.Images.Packs;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// Garbage collection in a bucket, where servers that still serve a removed image may read its chunks at any time and
/// no lock keeps imports out. A pack is live when a published manifest names a chunk it holds (the copy readers use).
/// A pack found not live is marked (<c>gc/pack-ID</c>, the object's time being when) and deleted by a later collection
/// once the mark is older than the grace period (<see cref="RemovalGrace"/>; at once with a zero grace), index first; a pack live again (an image imported meanwhile uses it)
/// loses its mark. Imports do not reuse chunks of marked packs, and check before publishing that every chunk they
/// name still exists. Pack objects without an index (an upload cut short) are deleted once older than the grace period.
/// Packs partly live are kept whole (an object cannot be cut); their dead bytes are reported.
/// </summary>
internal sealed class ObjectGarbageCollector(S3Bucket bucket, ObjectPacks packs)
{
    public async Task<GarbageReport> CollectAsync(HashSet<ChunkKey> referenced, TimeSpan grace, CancellationToken cancellationToken)
    {
        var snapshot = await packs.RefreshAsync(cancellationToken);
        if (snapshot.Damaged.Count > 0)
            throw new ImageStoreException($"garbage collection stopped before deleting anything: {string.Join("; ", snapshot.Damaged)}");
        DateTime now = DateTime.UtcNow;
        var marks = (await bucket.ListAsync(ObjectPacks.MarkDirectory, cancellationToken))
            .ToDictionary(o => o.Name[(ObjectPacks.MarkDirectory.Length + PackFormat.Prefix.Length)..], o => o.LastModified.ToUniversalTime(), StringComparer.Ordinal);
        long chunksRemoved = 0, bytesFreed = 0, deadBytesKept = 0;
        int packsRemoved = 0, packsWaiting = 0;
        foreach (var (id, index) in snapshot.Indexes)
        {
            var preferred = index.Entries.Where(e => snapshot.IsPreferred(e.Key, id)).ToList();
            long liveBytes = preferred.Where(e => referenced.Contains(e.Key)).Sum(e => PackFormat.Aligned(e.Length));
            if (liveBytes > 0)
            {
                deadBytesKept += index.DataBytes - liveBytes;
                if (marks.ContainsKey(id))
                    await bucket.DeleteAsync(ObjectPacks.MarkObject(id), cancellationToken);
                continue;
            }
            bool marked = marks.TryGetValue(id, out DateTime markedAt);
            if (!RemovalGrace.IsDue(marked ? markedAt : null, now, grace))
            {
                if (!marked)
                    await bucket.PutAsync(ObjectPacks.MarkObject(id), System.Text.Encoding.UTF8.GetBytes(now.ToString("O")), cancellationToken);
                packsWaiting++;
            }
            else
            {
                await bucket.DeleteAsync(ObjectPacks.IndexObject(id), cancellationToken); // out of the store first
                await bucket.DeleteAsync(ObjectPacks.PackObject(id), cancellationToken);
                if (marked)
                    await bucket.DeleteAsync(ObjectPacks.MarkObject(id), cancellationToken);
                chunksRemoved += preferred.Count;
                bytesFreed += index.PackLength;
                packsRemoved++;
                continue;
            }
            deadBytesKept += index.DataBytes;
        }
        foreach (var pack in await bucket.ListAsync(ObjectPacks.Directory, cancellationToken))
        {
            if (PackFormat.IdOf(pack.Name[ObjectPacks.Directory.Length..], PackFormat.PackSuffix) is { } id
                && !snapshot.Indexes.ContainsKey(id) && now - pack.LastModified.ToUniversalTime() >= grace
                && !await bucket.ExistsAsync(ObjectPacks.IndexObject(id), cancellationToken))
            {
                await bucket.DeleteAsync(pack.Name, cancellationToken);
                bytesFreed += pack.Size;
            }
        }
        foreach (string id in marks.Keys.Where(id => !snapshot.Indexes.ContainsKey(id)))
            await bucket.DeleteAsync(ObjectPacks.MarkObject(id), cancellationToken); // its pack is gone
        await packs.RefreshAsync(cancellationToken);
        return new GarbageReport(chunksRemoved, bytesFreed, referenced.Count)
        {
            PacksRemoved = packsRemoved,
            PacksWaiting = packsWaiting,
            DeadBytesKept = deadBytesKept,
        };
    }
}
