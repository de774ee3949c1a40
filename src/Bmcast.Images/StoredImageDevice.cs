using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>
/// A stored image as a read-only block device: reads are assembled from chunks in packs (one lookup and one
/// <c>pread</c> on a pack kept open per chunk touched, allocating nothing), zero chunks
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

    /// <summary>Reads are <c>pread</c>s on packs kept open: always at once, so the NBD server reads straight into its output.</summary>
    public override bool TryRead(long offset, Span<byte> buffer)
    {
        int chunkSize = Manifest.ChunkSize;
        while (!buffer.IsEmpty)
        {
            long chunk = offset / chunkSize;
            int inChunk = (int)(offset - chunk * chunkSize);
            int length = Math.Min(buffer.Length, Manifest.ChunkLength(chunk) - inChunk);
            var part = buffer[..length];
            if (Manifest.IsZeroChunk(chunk))
                part.Clear();
            else
                ReadChunk(chunk, inChunk, part);
            offset += length;
            buffer = buffer[length..];
        }
        return true;
    }

    public override ValueTask DisposeAsync()
    {
        _readerLock?.Dispose();
        return ValueTask.CompletedTask;
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
