using Bmcast.Core.Storage;

namespace Bmcast.Tests.Nbd;

/// <summary>A read-only device of zeros that counts the reads reaching it; each waits for nothing.</summary>
internal sealed class CountingDevice(long size) : IBlockDevice
{
    private long _reads;

    public long Reads => Interlocked.Read(ref _reads);

    public long Size => size;

    public BlockDeviceCapabilities Capabilities => BlockDeviceCapabilities.None;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        buffer.Span.Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw new BlockDeviceException(BlockDeviceException.EPERM, "read-only");

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken) =>
        throw new BlockDeviceException(BlockDeviceException.EPERM, "read-only");

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
