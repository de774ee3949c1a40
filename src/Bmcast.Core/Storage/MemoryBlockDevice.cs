namespace Bmcast.Core.Storage;

/// <summary>
/// An in-memory device over a shared byte array, for servers in one process (tests, fuzzing). It reports
/// every all-zero 4 KiB block as a zero hole in <c>base:allocation</c>, so peers such as <c>nbdinfo --map</c>
/// have holes to show. A read-only one refuses writes with EPERM and counts the attempts: a front end
/// must never let one through.
/// </summary>
public sealed class MemoryBlockDevice(byte[] data, bool writable) : IBlockDevice
{
    public const int BlockSize = 4096;
    private long _refusedWrites;

    /// <summary>Writes and zeroings that reached this device although it is read-only.</summary>
    public long RefusedWrites => Interlocked.Read(ref _refusedWrites);

    public long Size => data.Length;

    public BlockDeviceCapabilities Capabilities => writable
        ? BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.ForceUnitAccess
          | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.MultiConnection
        : BlockDeviceCapabilities.MultiConnection;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        TryRead(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    public bool TryRead(long offset, Span<byte> buffer)
    {
        data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
        return true;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> bytes, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        RefuseIfReadOnly();
        bytes.Span.CopyTo(data.AsSpan((int)offset));
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken)
    {
        RefuseIfReadOnly();
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

    private void RefuseIfReadOnly()
    {
        if (writable)
            return;
        Interlocked.Increment(ref _refusedWrites);
        throw new BlockDeviceException(BlockDeviceException.EPERM, "this device is read-only");
    }
}
