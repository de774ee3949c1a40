namespace Bmcast.Core.Storage;

/// <summary>
/// A device that passes every call to another: the base of layers that change one behaviour
/// (a link-rate limit on reads, a lifetime that outlives connections) and forward the rest. A layer that changes
/// reads overrides <see cref="TryRead"/> and <see cref="TryLocateInFile"/> too, or reads at once would bypass it.
/// </summary>
public abstract class ForwardingBlockDevice(IBlockDevice inner) : IBlockDevice
{
    protected IBlockDevice Inner { get; } = inner;

    public long Size => Inner.Size;
    public virtual BlockDeviceCapabilities Capabilities => Inner.Capabilities;
    public virtual ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => Inner.ReadAsync(offset, buffer, ct);
    public virtual bool TryRead(long offset, Span<byte> buffer) => Inner.TryRead(offset, buffer);
    public virtual bool TryLocateInFile(long offset, int length, out FilePosition position) => Inner.TryLocateInFile(offset, length, out position);
    public virtual ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct) => Inner.WriteAsync(offset, data, forceUnitAccess, ct);
    public virtual ValueTask FlushAsync(CancellationToken ct) => Inner.FlushAsync(ct);
    public virtual ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct) => Inner.WriteZeroesAsync(offset, length, forceUnitAccess, ct);
    public virtual int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) => Inner.DescribeAllocation(offset, length, extents);
    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
