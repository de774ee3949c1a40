using Bmcast.Images.Packs;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// The bucket's chunks for <c>image verify</c>: each read is a ranged GET of the pack object, past the server's cache,
/// so the audit checks what is stored.
/// </summary>
internal sealed class ObjectStoredChunks(S3Bucket bucket, ObjectPacks.Snapshot packs) : IStoredChunks
{
    public IReadOnlyList<string> Damaged => packs.Damaged;

    public StoredChunk? Locate(ReadOnlySpan<byte> hash) =>
        packs.TryLocate(ChunkKey.From(hash), out var at) ? new StoredChunk(bucket.Location.Key(at.PackObject), at.Offset, at.Length) : null;

    public ChunkRead TryRead(ReadOnlySpan<byte> hash, int offsetInChunk, Span<byte> destination)
    {
        if (!packs.TryLocate(ChunkKey.From(hash), out var at))
            return ChunkRead.Missing;
        if (offsetInChunk + destination.Length > at.Length)
            return ChunkRead.Short;
        byte[] buffer = new byte[destination.Length];
        int read = Task.Run(() => bucket.ReadRangeAsync(at.PackObject, at.Offset + offsetInChunk, buffer, CancellationToken.None)).GetAwaiter().GetResult();
        if (read < 0)
            return ChunkRead.Missing;
        if (read < buffer.Length)
            return ChunkRead.Short;
        buffer.CopyTo(destination);
        return ChunkRead.Done;
    }
}
