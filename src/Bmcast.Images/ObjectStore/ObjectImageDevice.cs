using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// An image in a bucket as a read-only block device: zero chunks read as zeros without a request, the others through
/// the server's <see cref="ObjectChunkReader"/> (cache, else one ranged GET, verified before use).
/// </summary>
internal sealed class ObjectImageDevice(Manifest manifest, ObjectChunkReader chunks) : IBlockDevice
{
    public long Size => manifest.ImageSize;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.MultiConnection;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int chunkSize = manifest.ChunkSize;
        while (!buffer.IsEmpty)
        {
            long chunk = offset / chunkSize;
            int inChunk = (int)(offset - chunk * chunkSize);
            int length = Math.Min(buffer.Length, manifest.ChunkLength(chunk) - inChunk);
            var part = buffer[..length];
            if (manifest.IsZeroChunk(chunk))
                part.Span.Clear();
            else
                await chunks.ReadAsync(manifest, chunk, inChunk, part);
            offset += length;
            buffer = buffer[length..];
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw ReadOnly();

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw ReadOnly();

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) =>
        ZeroChunkExtents.Describe(manifest, offset, length, extents);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static BlockDeviceException ReadOnly() => new(BlockDeviceException.EPERM, "stored images are read-only");
}
