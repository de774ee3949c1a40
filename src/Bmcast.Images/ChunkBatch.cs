using Bmcast.Core.Storage;
namespace Bmcast.Images;

/// <summary>
/// Adds chunks to the store in durable batches. Each chunk is written under a temporary name without
/// an fsync of its own; <see cref="Commit"/> makes a whole batch durable with one syncfs and only
/// then renames every chunk to its content name. That keeps the store's invariant (a chunk name
/// exists only over durable bytes) at a fraction of the cost of an fsync per chunk (1 GiB dense
/// import, 64 KiB chunks, 2 cores: 73-170 MiB/s with an fsync per chunk, 207-362 MiB/s batched, the
/// disk's own rate being about 350 MiB/s). Thread-safe: import workers share one batch.
/// </summary>
internal sealed class ChunkBatch : IDisposable
{
    /// <summary>Commit at whichever limit comes first: bounds dirty page cache and the temporary files alive.</summary>
    public const long MaxPendingBytes = 128L << 20;
    public const int DefaultMaxPendingChunks = 4096;

    private readonly ChunkStore _store;
    private readonly string _temporaryDirectory;
    private readonly int _maxPendingChunks;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Temporary, int Length)> _pending = new(StringComparer.Ordinal);
    private readonly HashSet<string> _prefixDirectories = new(StringComparer.Ordinal);
    private long _pendingBytes;

    public ChunkBatch(ChunkStore store, string temporaryDirectory, int maxPendingChunks)
    {
        _store = store;
        _temporaryDirectory = temporaryDirectory;
        _maxPendingChunks = maxPendingChunks;
    }

    /// <summary>Chunks and bytes that were not in the store before, counted as batches commit.</summary>
    public long NewChunks { get; private set; }

    public long NewBytes { get; private set; }

    /// <summary>Add a chunk unless the store or this batch already holds one with the same hash.</summary>
    public void Add(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> data)
    {
        string path = _store.PathOf(hash);
        if (File.Exists(path) || IsPending(path))
            return;
        string temporary = Path.Combine(_temporaryDirectory, "chunk-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var file = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            RandomAccess.Write(file, data, 0);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        lock (_gate)
        {
            // Another worker may have added the same content meanwhile; keep the first copy.
            if (!_pending.TryAdd(path, (temporary, data.Length)))
            {
                File.Delete(temporary);
                return;
            }
            _pendingBytes += data.Length;
            if (_pendingBytes >= MaxPendingBytes || _pending.Count >= _maxPendingChunks)
                CommitLocked();
        }
    }

    /// <summary>Make every chunk added so far durable and visible under its name, names included.</summary>
    public void Commit()
    {
        lock (_gate)
            CommitLocked();
        _store.SyncDirectories();
    }

    /// <summary>Drop chunks never committed (the import failed).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var (temporary, _) in _pending.Values)
                File.Delete(temporary);
            _pending.Clear();
        }
    }

    private bool IsPending(string path)
    {
        lock (_gate)
            return _pending.ContainsKey(path);
    }

    private void CommitLocked()
    {
        if (_pending.Count == 0)
            return;
        DirectorySync.SyncFileSystem(_temporaryDirectory);
        foreach (var (path, (temporary, length)) in _pending)
        {
            if (_prefixDirectories.Add(Path.GetDirectoryName(path)!))
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            // No overwrite: a concurrent import may have published the same content first.
            if (DurableFile.RenameNoReplace(temporary, path))
            {
                NewChunks++;
                NewBytes += length;
            }
            else
            {
                File.Delete(temporary);
            }
        }
        _pending.Clear();
        _pendingBytes = 0;
    }
}
