using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Images.Packs;

namespace Bmcast.Images;

/// <summary>
/// A stored image as a read-only block device: reads are assembled from chunks in packs (one lookup per chunk
/// touched and one <c>pread</c> per run of chunks that lie back to back in a pack kept open, allocating nothing), zero chunks
/// read as zeros without touching the disk, and <c>base:allocation</c> reports zero chunks as holes
/// so clients such as nbdcopy skip them. Content is not re-verified here: the streaming engine
/// verifies every chunk against the manifest itself, and <c>bmcast image verify</c> audits the store.
/// </summary>
public sealed class StoredImageDevice : ReadOnlyImageDevice
{
    private readonly ChunkStore _chunks;
    private readonly IDisposable? _readerLock;

    /// <param name="readerLock">Keeps the image from being removed while the device is open; released on dispose.</param>
    public StoredImageDevice(Manifest manifest, ChunkStore chunks, IDisposable? readerLock = null) : base(manifest)
    {
        _chunks = chunks;
        _readerLock = readerLock;
    }

    public override ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        TryRead(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Reads are <c>pread</c>s on packs kept open: always at once, so the NBD server reads straight into its output.
    /// Chunks that follow on in one pack are read together, so a read of an imported image costs one <c>pread</c>
    /// however many chunks it spans (a system call per chunk was a third of the server's calls under nbdcopy).
    /// </summary>
    public override bool TryRead(long offset, Span<byte> buffer)
    {
        var run = default(PackRun);
        foreach (var part in PartsOf(offset, buffer.Length))
        {
            if (TryLocatePacked(part, out var at))
            {
                if (!run.TryExtend(at, part, out var extended))
                {
                    ReadRun(run, offset, buffer);
                    extended = PackRun.Of(at, part);
                }
                run = extended;
                continue;
            }
            ReadRun(run, offset, buffer);
            run = default;
            var destination = buffer.Slice(part.At, part.Length);
            if (part.IsZero)
                destination.Clear();
            else
                ReadChunk(part.Chunk, part.InChunk, destination); // not in a pack loaded yet: the store looks further
        }
        ReadRun(run, offset, buffer);
        return true;
    }

    /// <summary>
    /// A read that lies whole in one pack, back to back: its chunks hold data and follow on in one pack (an import
    /// appends chunks as their hashes are done, so most of an image's neighbours do, not all).
    /// </summary>
    public override bool TryLocateInFile(long offset, int length, out FilePosition position)
    {
        position = default;
        var run = default(PackRun);
        foreach (var part in PartsOf(offset, length))
        {
            if (!TryLocatePacked(part, out var at))
                return false;
            if (run.Pack is null)
                run = PackRun.Of(at, part);
            else if (run.TryExtend(at, part, out var extended))
                run = extended; // not into run itself: TryExtend compares against the run it extends
            else
                return false;
        }
        if (run.Pack is null)
            return false;
        position = new FilePosition(run.Pack.Handle, run.PackOffset);
        return true;
    }

    public override ValueTask DisposeAsync()
    {
        _readerLock?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Read a run of a read at <paramref name="offset"/> into <paramref name="buffer"/>. Should its pack have been
    /// replaced by garbage collection meanwhile (or cut short), its chunks are read one by one, each looked up again.
    /// </summary>
    private void ReadRun(in PackRun run, long offset, Span<byte> buffer)
    {
        if (run.Pack is null)
            return;
        var destination = buffer.Slice(run.At, run.Length);
        try
        {
            if (run.Pack.TryRead(run.PackOffset, destination))
                return;
        }
        catch (ObjectDisposedException)
        {
        }
        foreach (var part in PartsOf(offset + run.At, run.Length))
            ReadChunk(part.Chunk, part.InChunk, destination.Slice(part.At, part.Length));
    }

    /// <summary>Where the part's bytes lie in a pack loaded already; false for a zero part or a chunk not found there whole.</summary>
    private bool TryLocatePacked(in ChunkPart part, out ChunkLocation at)
    {
        at = default;
        return !part.IsZero && _chunks.TryLocatePacked(Manifest.ChunkHash(part.Chunk), out at) && part.InChunk + part.Length <= at.Length;
    }

    private void ReadChunk(long chunk, int inChunk, Span<byte> destination)
    {
        var outcome = _chunks.TryRead(Manifest.ChunkHash(chunk), inChunk, destination);
        if (outcome != ChunkRead.Done)
            throw new BlockDeviceException(BlockDeviceException.EIO, outcome == ChunkRead.Missing
                ? $"chunk {chunk} ({Convert.ToHexStringLower(Manifest.ChunkHash(chunk))}) is missing from the store"
                : $"chunk {chunk} ({Convert.ToHexStringLower(Manifest.ChunkHash(chunk))}) is shorter than the manifest says");
    }
}
