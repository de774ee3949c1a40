using Bmcast.Core.Storage;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// An in-memory device over a shared byte array that reports every all-zero 4 KiB block as a zero hole
/// in <c>base:allocation</c>, so peers such as <c>nbdinfo --map</c> have holes to show.
/// </summary>
internal sealed class MemoryBlockDevice(byte[] data, bool writable) : IBlockDevice
{
    public const int BlockSize = 4096;

    public long Size => data.Length;

    public BlockDeviceCapabilities Capabilities => writable
        ? BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.ForceUnitAccess
          | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.MultiConnection
        : BlockDeviceCapabilities.MultiConnection;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        data.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> bytes, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        bytes.Span.CopyTo(data.AsSpan((int)offset));
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        data.AsSpan((int)offset, (int)length).Clear();
        return ValueTask.CompletedTask;
    }

    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents)
    {
        int count = 0;
        long end = offset + length;
        for (long at = offset; at < end && count < extents.Length;)
        {
            long blockEnd = Math.Min(end, (at / BlockSize + 1) * BlockSize);
            var flags = data.AsSpan((int)at, (int)(blockEnd - at)).ContainsAnyExcept((byte)0)
                ? AllocationFlags.Allocated
                : AllocationFlags.Hole | AllocationFlags.Zero;
            if (count > 0 && extents[count - 1].Flags == flags)
                extents[count - 1] = extents[count - 1] with { Length = extents[count - 1].Length + blockEnd - at };
            else
                extents[count++] = new AllocationExtent(blockEnd - at, flags);
            at = blockEnd;
        }
        return count;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
