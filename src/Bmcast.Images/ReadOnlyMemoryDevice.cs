using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>A small byte array as a read-only block device; serves encoded manifests (<c>manifest:NAME</c>).</summary>
public sealed class ReadOnlyMemoryDevice(ReadOnlyMemory<byte> content) : IBlockDevice
{
    public long Size => content.Length;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.MultiConnection;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        content.Slice((int)offset, buffer.Length).CopyTo(buffer);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw ReadOnly();

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw ReadOnly();

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static BlockDeviceException ReadOnly() => new(BlockDeviceException.EPERM, "this export is read-only");
}
