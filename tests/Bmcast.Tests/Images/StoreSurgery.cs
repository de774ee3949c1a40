using Bmcast.Images;
using Bmcast.Images.Packs;

namespace Bmcast.Tests.Images;

/// <summary>Damage done to a store on purpose, through its real files, to show that it is detected.</summary>
internal static class StoreSurgery
{
    /// <summary>Flip one byte of a stored chunk where it lies in its pack (or chunk file); returns where that is.</summary>
    public static StoredChunk FlipByte(ImageStore store, ReadOnlySpan<byte> hash, int offsetInChunk)
    {
        var stored = store.Chunks.Locate(hash) ?? throw new InvalidOperationException("the chunk is not stored");
        using var file = File.OpenHandle(stored.Path, FileMode.Open, FileAccess.ReadWrite);
        var one = new byte[1];
        RandomAccess.Read(file, one, stored.Offset + offsetInChunk);
        one[0] ^= 0x01;
        RandomAccess.Write(file, one, stored.Offset + offsetInChunk);
        return stored;
    }

    /// <summary>Rewrite every pack index (validly: sorted, checksummed) with entries changed or dropped (null).</summary>
    public static void RewriteIndexes(ImageStore store, Func<PackEntry, PackEntry?> change)
    {
        foreach (string path in Directory.GetFiles(Path.Combine(store.Root, "packs"), "*.idx"))
        {
            var index = PackIndex.Decode(File.ReadAllBytes(path));
            var entries = index.Entries.Select(change).OfType<PackEntry>().ToList();
            File.WriteAllBytes(path, PackIndex.Encode(entries, index.PackLength));
        }
        store.Chunks.Dispose(); // forget the packs as loaded: the next read loads the rewritten indexes
    }
}
