using Bmcast.Images.Packs;

namespace Bmcast.Images;

/// <summary>
/// The store's chunks, content-addressed by SHA-256 and shared by every image that contains them, appended to pack
/// files (<c>packs/</c>, see <see cref="PackFormat"/>). A chunk becomes part of the store only when its pack's index
/// is published, after the pack's bytes are durable (<see cref="ChunkBatch"/>), so a chunk the store names always has
/// its bytes (barring later corruption, which <see cref="ImageVerifier"/> detects). Packs stay open: a read is a
/// lookup in memory and one <c>pread</c>, without allocating. Packs published by other processes (imports, garbage
/// collection) are picked up by <see cref="Refresh"/>, which a read of a chunk not yet known triggers by itself.
/// Stores from before packs (<c>chunks/ab/abcd…</c>) are read as they are until the first write migrates them.
/// </summary>
public sealed class ChunkStore : IStoredChunks, IDisposable
{
    private readonly Lock _refreshLock = new();
    private volatile PackSet? _packs;

    internal ChunkStore(string root)
    {
        Root = root;
        PacksDirectory = Path.Combine(root, "packs");
        Loose = new LooseChunks(Path.Combine(root, "chunks"));
        Marks = new PackMarks(Path.Combine(root, "gc"));
    }

    /// <summary>The store's root, where <see cref="StoreLock.Packing"/> lives.</summary>
    internal string Root { get; }

    internal string PacksDirectory { get; }

    internal LooseChunks Loose { get; }

    /// <summary>Packs garbage collection found unreferenced: deleted once the grace period has passed (<see cref="RemovalGrace"/>).</summary>
    internal PackMarks Marks { get; }

    /// <summary>For crash tests: called at each step of writing a pack or removing a replaced one.</summary>
    internal Action<PackStep>? StepReached { get; set; }

    /// <summary>The packs as last loaded (loading them on first use).</summary>
    public PackSet Packs => _packs ?? Refresh();

    public IReadOnlyList<string> Damaged => Packs.Damaged;

    /// <summary>Distinct chunks stored, in packs and (before migration) in chunk files.</summary>
    public long Count => Packs.Count + Loose.Enumerate().LongCount(loose => !Packs.Contains(loose.Key));

    /// <summary>
    /// Load the packs published now: new ones are opened, those garbage collection removed are closed (a read in
    /// flight on one retries on the new set). Damaged packs are left out (<see cref="PackSet.Damaged"/>).
    /// </summary>
    public PackSet Refresh()
    {
        lock (_refreshLock)
        {
            var (current, gone) = PackSet.Load(PacksDirectory, _packs ?? PackSet.Empty, strict: false);
            _packs = current;
            foreach (var pack in gone)
                pack.Dispose();
            return current;
        }
    }

    /// <summary>
    /// Read <paramref name="destination"/>.Length bytes of a chunk from <paramref name="offsetInChunk"/>. Allocates
    /// nothing when the chunk is in a pack already loaded.
    /// </summary>
    public ChunkRead TryRead(ReadOnlySpan<byte> hash, int offsetInChunk, Span<byte> destination)
    {
        var key = ChunkKey.From(hash);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (Packs.TryLocate(key, out var at))
            {
                if (offsetInChunk + destination.Length > at.Length)
                    return ChunkRead.Short;
                try
                {
                    return at.Pack.TryRead(at.Offset + offsetInChunk, destination) ? ChunkRead.Done : ChunkRead.Short;
                }
                catch (ObjectDisposedException)
                {
                    continue; // garbage collection replaced the pack and the set moved on: look the chunk up again
                }
            }
            if (Loose.Exist && ReadLoose(key, offsetInChunk, destination) is { } loose)
                return loose;
            if (attempt > 0)
                break;
            Refresh(); // published since the packs were loaded?
        }
        return ChunkRead.Missing;
    }

    /// <summary>
    /// Where a chunk is among the packs loaded now (no refresh, no chunk files), for readers that merge reads of
    /// neighbouring chunks; <see cref="TryRead"/> looks further for a chunk not found here.
    /// </summary>
    internal bool TryLocatePacked(ReadOnlySpan<byte> hash, out ChunkLocation location) =>
        Packs.TryLocate(ChunkKey.From(hash), out location);

    private ChunkRead? ReadLoose(ChunkKey key, int offsetInChunk, Span<byte> destination)
    {
        using var file = Loose.TryOpen(key);
        if (file is null)
            return null;
        for (int done = 0, n; done < destination.Length; done += n)
            if ((n = RandomAccess.Read(file, destination[done..], offsetInChunk + done)) == 0)
                return ChunkRead.Short;
        return ChunkRead.Done;
    }

    /// <summary>Where a chunk's bytes are, for audits and repairs: null when the store does not have it.</summary>
    public StoredChunk? Locate(ReadOnlySpan<byte> hash)
    {
        var key = ChunkKey.From(hash);
        if (Packs.TryLocate(key, out var at) || Refresh().TryLocate(key, out at))
            return new StoredChunk(at.Pack.Path, at.Offset, at.Length);
        var loose = new FileInfo(Loose.PathOf(key));
        return loose.Exists ? new StoredChunk(loose.FullName, 0, (int)Math.Min(loose.Length, int.MaxValue)) : null;
    }

    /// <summary>Start adding chunks; see <see cref="ChunkBatch"/>.</summary>
    internal ChunkBatch BeginBatch(int maxPendingChunks) => new(this, maxPendingChunks);

    /// <summary>Start a pack of this store's.</summary>
    internal PackWriter CreatePack()
    {
        Directory.CreateDirectory(PacksDirectory);
        return new PackWriter(PacksDirectory, StepReached);
    }

    public void Dispose()
    {
        lock (_refreshLock)
        {
            foreach (var pack in _packs?.Packs ?? [])
                pack.Dispose();
            _packs = PackSet.Empty;
        }
    }
}
