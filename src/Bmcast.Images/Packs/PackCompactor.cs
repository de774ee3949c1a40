using System.Buffers;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images.Packs;

/// <summary>
/// Garbage collection of packs, under the store's exclusive lock (no import running). A chunk is live when a
/// published manifest names it and the pack holds the copy readers use (<see cref="PackSet.IsPreferred"/>). A pack
/// with no live chunk is to be deleted; one whose live chunks fill less than <see cref="RewriteBelowLiveShare"/> of it
/// is to be rewritten: its live chunks copied into new packs, which are published before any old pack goes, so a power
/// cut leaves every live chunk in some published pack (then twice: the older copy is dead to the next collection).
/// Either happens only once the grace period has passed since a collection first found the pack so and marked it
/// (<see cref="RemovalGrace"/>, <see cref="PackMarks"/>); a pack no longer so loses its mark. An old pack goes index
/// first, so it is never an index without its pack, then its mark. Packs without an index (an import or compaction
/// that died) are deleted at once: nothing ever read them. A damaged index stops the collection before anything is deleted.
/// </summary>
internal static class PackCompactor
{
    /// <summary>Rewrite a pack when less than this share of its bytes is live.</summary>
    public const double RewriteBelowLiveShare = 0.5;

    public static GarbageReport Collect(ChunkStore chunks, HashSet<ChunkKey> referenced, TimeSpan grace)
    {
        string directory = chunks.PacksDirectory;
        if (!Directory.Exists(directory))
            return new GarbageReport(0, 0, referenced.Count); // no pack was ever written here
        long bytesBefore = BytesOnDisk(directory);
        var (packs, _) = PackSet.Load(directory, PackSet.Empty, strict: true);
        try
        {
            RemoveUnpublished(directory, packs);
            var marks = chunks.Marks.Load();
            DateTime now = DateTime.UtcNow;
            var replaced = new List<PackFile>();
            var live = new List<(PackFile Pack, PackEntry Entry)>();
            long chunksRemoved = 0, deadBytesKept = 0;
            int waiting = 0;
            foreach (var pack in packs.Packs)
            {
                var preferred = pack.Index.Entries.Where(e => packs.IsPreferred(e.Key, pack)).ToList();
                var liveHere = preferred.Where(e => referenced.Contains(e.Key)).ToList();
                long liveBytes = liveHere.Sum(e => PackFormat.Aligned(e.Length));
                long dead = preferred.Count - liveHere.Count;
                bool marked = marks.Remove(pack.Id, out DateTime markedAt);
                if (liveHere.Count > 0 && liveBytes >= pack.Index.DataBytes * RewriteBelowLiveShare)
                {
                    deadBytesKept += pack.Index.DataBytes - liveBytes;
                    if (marked)
                        chunks.Marks.Unmark(pack.Id); // live again
                    continue;
                }
                if (!RemovalGrace.IsDue(marked ? markedAt : null, now, grace))
                {
                    if (!marked)
                        chunks.Marks.Mark(pack.Id);
                    deadBytesKept += pack.Index.DataBytes - liveBytes;
                    waiting++;
                    continue;
                }
                replaced.Add(pack);
                live.AddRange(liveHere.Select(e => (pack, e)));
                chunksRemoved += dead;
            }
            Copy(chunks, live);
            foreach (var pack in replaced)
                Remove(chunks, pack);
            DirectorySync.Sync(directory);
            foreach (string id in marks.Keys)
                chunks.Marks.Unmark(id); // their packs are gone
            return new GarbageReport(chunksRemoved, bytesBefore - BytesOnDisk(directory), referenced.Count)
            {
                PacksRewritten = replaced.Count(p => live.Any(l => l.Pack == p)),
                PacksRemoved = replaced.Count,
                PacksWaiting = waiting,
                DeadBytesKept = deadBytesKept,
            };
        }
        finally
        {
            foreach (var pack in packs.Packs)
                pack.Dispose();
            chunks.Refresh(); // this process's readers let go of the packs removed
        }
    }

    /// <summary>Copy live chunks into new packs and publish them.</summary>
    private static void Copy(ChunkStore chunks, List<(PackFile Pack, PackEntry Entry)> live)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Manifest.MaxChunkSize);
        PackWriter? writer = null;
        var entries = new List<PackEntry>();
        try
        {
            foreach (var (pack, entry) in live)
            {
                var data = buffer.AsSpan(0, entry.Length);
                if (!pack.TryRead(entry.Offset, data))
                    throw new PackFormatException($"{pack.Path} ended inside chunk {entry.Key}: it was cut short; nothing was removed");
                writer ??= chunks.CreatePack();
                entries.Add(entry with { Offset = writer.Append(data) });
                if (writer.Length >= ChunkBatch.MaxPackBytes)
                    Flush(ref writer, entries);
            }
            if (writer is not null)
                Flush(ref writer, entries);
        }
        finally
        {
            writer?.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void Flush(ref PackWriter? writer, List<PackEntry> entries)
    {
        writer!.Publish(entries);
        writer.Dispose();
        writer = null;
        entries.Clear();
    }

    private static void Remove(ChunkStore chunks, PackFile pack)
    {
        string directory = chunks.PacksDirectory;
        File.Delete(PackFormat.IndexPath(directory, pack.Id));
        DirectorySync.Sync(directory);
        chunks.StepReached?.Invoke(PackStep.OldIndexRemoved);
        File.Delete(pack.Path);
        chunks.StepReached?.Invoke(PackStep.OldPackRemoved);
        chunks.Marks.Unmark(pack.Id);
    }

    /// <summary>Delete packs that never got an index and indexes never renamed into place: writers that died.</summary>
    private static void RemoveUnpublished(string directory, PackSet published)
    {
        var ids = published.Packs.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        foreach (string path in Directory.EnumerateFiles(directory))
        {
            string name = Path.GetFileName(path);
            if (name.EndsWith(PackFormat.PartialIndexSuffix, StringComparison.Ordinal)
                || (PackFormat.IdOf(name, PackFormat.PackSuffix) is { } id && !ids.Contains(id)))
                File.Delete(path);
        }
    }

    private static long BytesOnDisk(string directory) => Directory.EnumerateFiles(directory).Sum(path => new FileInfo(path).Length);
}
