using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>
/// The image store as NBD exports: every image under its name (listed), each image's signed
/// manifest as the hidden export <c>manifest:NAME</c> and its boot profile, if any, as <c>profile:NAME</c>. The store is read on every call, so images
/// imported or removed while a server runs (by this server's host or any other sharing the store) appear and disappear
/// without a restart, at the next listing or open.
/// </summary>
public sealed class StoreExportCatalog(IImageStore store) : IExportCatalog
{
    public IReadOnlyList<ExportListing> List() =>
        store.List().Select(info => new ExportListing(info.Name, Describe(info), info.AoeSlot)).ToList();

    /// <summary>Without holding a thread while a bucket answers: every agent opens <c>manifest:NAME</c> and <c>profile:NAME</c>.</summary>
    public async ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken)
    {
        if (TryStripPrefix(name, ExportNames.ManifestPrefix) is { } manifestOf)
            return await store.TryReadEncodedManifestAsync(manifestOf, cancellationToken) is { } manifest ? new ReadOnlyMemoryDevice(manifest) : null;
        if (TryStripPrefix(name, ExportNames.ProfilePrefix) is { } profileOf)
            return await store.TryReadBootProfileAsync(profileOf, cancellationToken) is { Length: > 0 } profile ? new ReadOnlyMemoryDevice(profile) : null;
        return await store.TryOpenImageAsync(name, cancellationToken);
    }

    private static string? TryStripPrefix(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : null;

    public static string Describe(ImageInfo info) =>
        $"{ByteSize.Format(info.Size)}, root {info.RootHashPrefix}";
}
