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

/// <param name="AoeSlot">The AoE slot the export keeps for its life, if it has one; only numbered exports are served over AoE.</param>
public sealed record ExportListing(string Name, string Description, int? AoeSlot = null);

/// <summary>
/// Names that <c>bmcast serve</c> answers besides the images themselves, all unlisted:
/// an image NAME's signed manifest is <c>manifest:NAME</c> (its size is the encoded length), its
/// boot profile <c>profile:NAME</c>, both read-only; and while NAME has no profile, <c>learn-profile:NAME</c>, a small
/// writable export where an agent offers the profile its deployment recorded (docs/hosted.md, "Learned boot profiles").
/// </summary>
public static class ExportNames
{
    public const string ManifestPrefix = "manifest:";

    /// <summary>An image's boot profile (chunk order, text), when one was recorded: <c>profile:NAME</c>.</summary>
    public const string ProfilePrefix = "profile:";

    /// <summary>Where an agent offers an image's first boot profile: <c>learn-profile:NAME</c>.</summary>
    public const string LearnProfilePrefix = "learn-profile:";

    public static string ManifestOf(string imageName) => ManifestPrefix + imageName;

    public static string LearnProfileOf(string imageName) => LearnProfilePrefix + imageName;

    public static string ProfileOf(string imageName) => ProfilePrefix + imageName;

    /// <summary>The image an export belongs to: NAME for <c>manifest:NAME</c>, <c>profile:NAME</c> and <c>learn-profile:NAME</c>, else the name itself.</summary>
    public static string ImageOf(string exportName) =>
        exportName.StartsWith(ManifestPrefix, StringComparison.Ordinal) ? exportName[ManifestPrefix.Length..]
        : exportName.StartsWith(ProfilePrefix, StringComparison.Ordinal) ? exportName[ProfilePrefix.Length..]
        : exportName.StartsWith(LearnProfilePrefix, StringComparison.Ordinal) ? exportName[LearnProfilePrefix.Length..]
        : exportName;
}
