namespace Bmcast.Images.Packs;

/// <summary>
/// Moves a store written before packs (one file per chunk under <c>chunks/</c>) into packs, once, on the first
/// write to it (an import, <c>rm</c> or <c>gc</c>), under the store's exclusive lock. Every chunk file is appended
/// to packs as it is (an audit is <c>image verify</c>'s job), the packs are published, and only then is
/// <c>chunks/</c> deleted: a power cut before that leaves chunks in both layouts, which reads and the next
/// migration handle (a chunk already in a pack is not copied again).
/// </summary>
internal static class LayoutMigration
{
    /// <summary>Chunk files moved and their bytes, or null when the store holds no chunk files.</summary>
    public static (long Chunks, long Bytes)? Run(ChunkStore chunks)
    {
        if (!chunks.Loose.Exist)
            return null;
        long moved = 0, bytes = 0;
        Span<byte> hash = stackalloc byte[Core.Manifests.Manifest.HashSize];
        using (var batch = chunks.BeginBatch(ChunkBatch.DefaultMaxPendingChunks))
        {
            foreach (var (key, path) in chunks.Loose.Enumerate())
            {
                byte[] data = File.ReadAllBytes(path);
                if (data.Length == 0)
                    continue; // not a chunk: nothing refers to empty content
                key.WriteTo(hash);
                batch.Add(hash, data);
                moved++;
                bytes += data.Length;
            }
            batch.Commit();
        }
        chunks.Loose.Remove();
        return (moved, bytes);
    }
}
