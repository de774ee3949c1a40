using Bmcast.Images.Packs;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// The server's bounded read cache of verified chunks fetched from the bucket, least recently used evicted first, so
/// the chunks every boot reads are fetched once per server rather than once per machine. Only chunks that matched
/// their manifest hash are added. A hit copies under a lock and allocates nothing.
/// </summary>
internal sealed class ChunkCache(long capacityBytes)
{
    /// <summary><c>bmcast serve --cache-size</c>'s default: a few boots' worth of chunks (a Debian boot reads ~75 MiB).</summary>
    public const long DefaultCapacityBytes = 512L << 20;

    private sealed record Entry(ChunkKey Key, byte[] Data);

    private readonly Lock _gate = new();
    private readonly Dictionary<ChunkKey, LinkedListNode<Entry>> _entries = new();
    private readonly LinkedList<Entry> _recency = new(); // most recently used first

    public long CapacityBytes => capacityBytes;

    public long Bytes { get; private set; }

    public long Hits { get; private set; }

    public long Misses { get; private set; }

    /// <summary>Copy <paramref name="destination"/>.Length bytes of a cached chunk from <paramref name="offset"/>; false on a miss.</summary>
    public bool TryCopy(ChunkKey key, int offset, Span<byte> destination)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var node))
            {
                Misses++;
                return false;
            }
            Hits++;
            _recency.Remove(node);
            _recency.AddFirst(node);
            node.Value.Data.AsSpan(offset, destination.Length).CopyTo(destination);
            return true;
        }
    }

    /// <summary>Keep a verified chunk, evicting the least recently used until it fits (one larger than the cache is not kept).</summary>
    public void Add(ChunkKey key, byte[] data)
    {
        if (data.Length > capacityBytes)
            return;
        lock (_gate)
        {
            if (_entries.ContainsKey(key))
                return;
            while (Bytes + data.Length > capacityBytes && _recency.Last is { } oldest)
            {
                _recency.RemoveLast();
                _entries.Remove(oldest.Value.Key);
                Bytes -= oldest.Value.Data.Length;
            }
            _entries[key] = _recency.AddFirst(new Entry(key, data));
            Bytes += data.Length;
        }
    }
}
