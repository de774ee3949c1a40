using Bmcast.Core.Storage;

namespace Bmcast.Cli.Streaming;

/// <summary>
/// The agent exports exactly one device, under whatever name the client asks for: QEMU's
/// <c>nbd+unix:///?socket=...</c> asks for the empty name, others for the image's.
/// </summary>
internal sealed class SingleExportCatalog(string name, string description, IBlockDevice device) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() => [new ExportListing(name, description)];

    public ValueTask<IBlockDevice?> OpenAsync(string requested, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IBlockDevice?>(new SharedDevice(device));

    /// <summary>Each connection disposes what it opened; the shared disk outlives every connection.</summary>
    private sealed class SharedDevice(IBlockDevice inner) : IBlockDevice
    {
        public long Size => inner.Size;
        public BlockDeviceCapabilities Capabilities => inner.Capabilities;
        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => inner.ReadAsync(offset, buffer, ct);
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct) => inner.WriteAsync(offset, data, fua, ct);
        public ValueTask FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken ct) => inner.WriteZeroesAsync(offset, length, fua, ct);
        public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) => inner.DescribeAllocation(offset, length, extents);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
