using Bmcast.Core.Storage;

namespace Bmcast.Agent.Streaming;

/// <summary>
/// The agent exports exactly one device, under whatever name the client asks for: QEMU's
/// <c>nbd+unix:///?socket=...</c> asks for the empty name, others for the image's.
/// </summary>
public sealed class SingleExportCatalog(string name, string description, IBlockDevice device) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() => [new ExportListing(name, description)];

    public ValueTask<IBlockDevice?> OpenAsync(string requested, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IBlockDevice?>(new SharedDevice(device));

    /// <summary>Each connection disposes what it opened; the shared disk outlives every connection.</summary>
    private sealed class SharedDevice(IBlockDevice inner) : ForwardingBlockDevice(inner)
    {
        public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
