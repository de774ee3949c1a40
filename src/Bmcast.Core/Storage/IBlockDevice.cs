namespace Bmcast.Core.Storage;

/// <summary>
/// The block-device seam between front ends (NBD export, QEMU, FUSE) and whatever stores the bytes
/// (an image in the store, the streaming engine). Kept as small as nbdkit's backend table: a front end
/// validates ranges and negotiated features once at its edge, so implementations may assume
/// <c>offset + length &lt;= Size</c> and that writes only reach devices that are not read-only.
/// Failures surface as <see cref="IOException"/> (mapped to EIO on the wire) or
/// <see cref="BlockDeviceException"/> when a more specific errno applies.
/// </summary>
public interface IBlockDevice : IAsyncDisposable
{
    /// <summary>Size in bytes; fixed for the device's lifetime.</summary>
    long Size { get; }

    /// <summary>What this device supports; asked once when a client connects and cached.</summary>
    BlockDeviceCapabilities Capabilities { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>
    /// Read at once, on the caller's thread, when the bytes are local and nothing has to be waited for: true when
    /// <paramref name="buffer"/> was filled; false when the read would have to wait (a fetch, a link) and nothing
    /// was read, and then <see cref="ReadAsync"/> must be used. Lets a front end read straight into its output
    /// buffer (the NBD server's reply writer does). Failures throw, as <see cref="ReadAsync"/>'s would.
    /// Devices that cannot tell keep this default: never at once.
    /// </summary>
    bool TryRead(long offset, Span<byte> buffer) => false;

    /// <summary>
    /// Where <paramref name="length"/> bytes at <paramref name="offset"/> lie in one file, when they are there as they
    /// are, back to back, and can be read at once (what <see cref="TryRead"/> would read): lets a front end hand them
    /// to the kernel to send (<c>sendfile</c>) without reading them itself. The file's bytes there must not change while the device is open unless the device's own writes change
    /// them. A device that counts its reads counts this one as read. Devices that cannot tell keep this default: never.
    /// </summary>
    bool TryLocateInFile(long offset, int length, out FilePosition position)
    {
        position = default;
        return false;
    }

    /// <param name="forceUnitAccess">When true the data must be durable before the call completes.</param>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken cancellationToken);

    /// <summary>Make every completed write durable (and whatever metadata protects it).</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);

    /// <summary>Make the range read as zeroes, as a write would.</summary>
    ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken cancellationToken);

    /// <summary>
    /// Describe allocation starting at <paramref name="offset"/> for NBD's <c>base:allocation</c> context:
    /// fills <paramref name="extents"/> with consecutive extents that start at <paramref name="offset"/>
    /// and cover at most <paramref name="length"/> bytes; returns how many were written (at least one).
    /// Devices without allocation knowledge keep this default: one allocated extent.
    /// </summary>
    int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents)
    {
        extents[0] = new AllocationExtent(length, AllocationFlags.Allocated);
        return 1;
    }
}

[Flags]
public enum BlockDeviceCapabilities
{
    None = 0,
    Writable = 1 << 0,
    Flush = 1 << 1,
    ForceUnitAccess = 1 << 2,
    WriteZeroes = 1 << 3,
    /// <summary>Several connections to the same device see each other's flushed writes (NBD CAN_MULTI_CONN).</summary>
    MultiConnection = 1 << 4,
}

/// <summary>An extent for <c>base:allocation</c>: flags follow NBD (bit 0 hole, bit 1 zero).</summary>
public readonly record struct AllocationExtent(long Length, AllocationFlags Flags);

[Flags]
public enum AllocationFlags : uint
{
    Allocated = 0,
    Hole = 1,
    Zero = 2,
}

/// <summary>An I/O failure that carries the POSIX errno a wire protocol should report.</summary>
public sealed class BlockDeviceException(int errno, string message, Exception? inner = null) : IOException(message, inner)
{
    public const int EIO = 5;
    public const int EPERM = 1;
    public const int ENOSPC = 28;
    public const int EINVAL = 22;

    public int Errno { get; } = errno;
}
