namespace Bmcast.Core.Storage;

/// <summary>Every device the inner catalog opens, with its reads carried over one shared <see cref="LinkEmulator"/>.</summary>
public sealed class LinkLimitedCatalog(IExportCatalog inner, LinkEmulator link) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() => inner.List();

    public async ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken) =>
        await inner.OpenAsync(name, cancellationToken) is { } device ? new LinkLimitedDevice(device, link) : null;

    private sealed class LinkLimitedDevice(IBlockDevice inner, LinkEmulator link) : ForwardingBlockDevice(inner)
    {
        public override async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            await Inner.ReadAsync(offset, buffer, ct);
            await link.TransferAsync(buffer.Length, ct);
        }

        /// <summary>Every read crosses the emulated link, which takes time.</summary>
        public override bool TryRead(long offset, Span<byte> buffer) => false;

        public override bool TryLocateInFile(long offset, int length, out FilePosition position)
        {
            position = default;
            return false;
        }
    }
}
