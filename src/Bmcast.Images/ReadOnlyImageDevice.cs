using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>
/// A stored image as a read-only block device, whatever holds its chunks: writes are refused, and
/// <c>base:allocation</c> reports runs of zero chunks as holes that read as zeros, so clients such as nbdcopy skip them.
/// </summary>
public abstract class ReadOnlyImageDevice(Manifest manifest) : IBlockDevice
{
    public Manifest Manifest { get; } = manifest;

    public long Size => Manifest.ImageSize;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.MultiConnection;

    public abstract ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Whether a read needs no waiting (the bytes are on a local disk): false unless the store says so.</summary>
    public virtual bool TryRead(long offset, Span<byte> buffer) => false;

    /// <summary>Where a read lies in one file: nowhere unless the store says so.</summary>
    public virtual bool TryLocateInFile(long offset, int length, out FilePosition position)
    {
        position = default;
        return false;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw ReadOnly();

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw ReadOnly();

    // Nothing is ever dirty on a read-only device.
    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents)
    {
        long end = Math.Min(offset + length, Manifest.ImageSize);
        int count = 0;
        while (offset < end && count < extents.Length)
        {
            long chunk = offset / Manifest.ChunkSize;
            bool zero = Manifest.IsZeroChunk(chunk);
            long runEnd = (chunk + 1) * Manifest.ChunkSize;
            while (runEnd < end && Manifest.IsZeroChunk(runEnd / Manifest.ChunkSize) == zero)
                runEnd += Manifest.ChunkSize;
            runEnd = Math.Min(runEnd, end);
            extents[count++] = new AllocationExtent(runEnd - offset,
                zero ? AllocationFlags.Hole | AllocationFlags.Zero : AllocationFlags.Allocated);
            offset = runEnd;
        }
        return count;
    }

    /// <summary>A read of <paramref name="length"/> bytes at <paramref name="offset"/>, cut at chunk boundaries.</summary>
    private protected ChunkParts PartsOf(long offset, int length) => new(Manifest, offset, length);

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static BlockDeviceException ReadOnly() => new(BlockDeviceException.EPERM, "stored images are read-only");
}
