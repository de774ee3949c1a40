namespace Bmcast.Core.Storage;

/// <summary>Every device the inner catalog opens, with its reads carried over one shared <see cref="LinkEmulator"/>.</summary>
public sealed class LinkLimitedCatalog(IExportCatalog inner, LinkEmulator link) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() => inner.List();

    public async ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken) =>
        await inner.OpenAsync(name, cancellationToken) is { } device ? new LinkLimitedDevice(device, link) : null;

    private sealed class LinkLimitedDevice(IBlockDevice inner, LinkEmulator link) : IBlockDevice
    {
        public long Size => inner.Size;
        public BlockDeviceCapabilities Capabilities => inner.Capabilities;

        public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            await inner.ReadAsync(offset, buffer, ct);
            await link.TransferAsync(buffer.Length, ct);
        }

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct) => inner.WriteAsync(offset, data, fua, ct);
        public ValueTask FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken ct) => inner.WriteZeroesAsync(offset, length, fua, ct);
        public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) => inner.DescribeAllocation(offset, length, extents);
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
