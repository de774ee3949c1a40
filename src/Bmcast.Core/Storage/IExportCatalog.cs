namespace Bmcast.Core.Storage;

/// <summary>
/// The set of devices a server exports by name. The NBD server asks it on OPT_LIST, OPT_INFO and
/// OPT_GO; <c>bmcast serve</c> backs it with the image store, <c>bmcast stream</c> with one device.
/// </summary>
public interface IExportCatalog
{
    /// <summary>Exports a client may discover (OPT_LIST). Hidden exports may still be opened by name.</summary>
    IReadOnlyList<ExportListing> List();

    /// <summary>Open the named export, or return null when there is no such export.</summary>
    ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken);
}

public sealed record ExportListing(string Name, string Description);

/// <summary>
/// Names that <c>bmcast serve</c> answers besides the images themselves. An image NAME's signed
/// manifest is the read-only, unlisted export <c>manifest:NAME</c>; its size is the encoded length.
/// </summary>
public static class ExportNames
{
    public const string ManifestPrefix = "manifest:";

    public static string ManifestOf(string imageName) => ManifestPrefix + imageName;
}
