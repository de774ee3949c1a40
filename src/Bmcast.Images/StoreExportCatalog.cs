using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>
/// The image store as NBD exports: every image under its name (listed), and each image's signed
/// manifest as the hidden export <c>manifest:NAME</c>. The store is read on every call, so images
/// imported or removed while a server runs appear and disappear without a restart.
/// </summary>
public sealed class StoreExportCatalog(ImageStore store) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() =>
        store.List().Select(info => new ExportListing(info.Name, Describe(info))).ToList();

    public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken)
    {
        bool isManifest = name.StartsWith(ExportNames.ManifestPrefix, StringComparison.Ordinal);
        string imageName = isManifest ? name[ExportNames.ManifestPrefix.Length..] : name;
        if (!store.Exists(imageName))
            return ValueTask.FromResult<IBlockDevice?>(null);
        IBlockDevice device = isManifest
            ? new ReadOnlyMemoryDevice(store.ReadEncodedManifest(imageName))
            : store.OpenDevice(imageName);
        return ValueTask.FromResult<IBlockDevice?>(device);
    }

    public static string Describe(ImageInfo info) =>
        $"{ByteSize.Format(info.Size)}, root {info.RootHashPrefix}";
}
