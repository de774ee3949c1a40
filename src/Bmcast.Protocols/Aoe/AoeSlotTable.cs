using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// The slots a target exports. From a catalog: every listed export with an AoE slot number
/// (<see cref="ExportListing.AoeSlot"/>, which an image keeps for its life) is that slot of
/// <see cref="AoeTargetOptions.Shelf"/>; with <see cref="AoeTargetOptions.ManifestShelf"/> set, each image's signed
/// manifest (the catalog's <c>manifest:NAME</c>) is the same slot number on that shelf, framed as a
/// <see cref="CompanionFrame"/>; likewise each image's boot profile (<c>profile:NAME</c>), when it has one, on
/// <see cref="AoeTargetOptions.ProfileShelf"/>. <see cref="RefreshAsync"/> brings it up to date with the catalog while
/// frames are being answered: readers take <see cref="Current"/>, an array that is replaced, never changed.
/// </summary>
public sealed class AoeSlotTable : IAsyncDisposable
{
    private readonly IExportCatalog? _catalog;
    private readonly AoeTargetOptions _options;
    private readonly Lock _refreshing = new();
    /// <summary>Slots no longer listed: a receive thread may still be reading one, so they close with the table.</summary>
    private readonly List<AoeSlot> _retired = [];
    private volatile AoeSlot[] _current;
    /// <summary>The listing each current image was opened from: a changed listing (a replaced image) is reopened.</summary>
    private Dictionary<string, ExportListing> _openedFrom = [];
    /// <summary>
    /// The boot profile each profile slot serves. Recording or replacing a profile changes no listing, so every refresh
    /// reads the profiles again (a few KiB each) and compares.
    /// </summary>
    private Dictionary<string, byte[]> _profiles = [];

    /// <summary>A fixed set of slots (tests, fuzzing): <see cref="RefreshAsync"/> is not for it.</summary>
    public AoeSlotTable(IEnumerable<AoeSlot> slots)
    {
        _current = [.. slots];
        _options = new AoeTargetOptions();
    }

    private AoeSlotTable(IExportCatalog catalog, AoeTargetOptions options)
    {
        _catalog = catalog;
        _options = options;
        _current = [];
    }

    /// <summary>The slots answering now; take it once per frame.</summary>
    public IReadOnlyList<AoeSlot> Current => _current;

    /// <summary>Open every numbered export of <paramref name="catalog"/> as a slot.</summary>
    public static async Task<AoeSlotTable> OpenAsync(IExportCatalog catalog, AoeTargetOptions options, CancellationToken cancellationToken)
    {
        if (options.ManifestShelf is { } manifestShelf && (manifestShelf == options.Shelf || manifestShelf == AoeProtocol.BroadcastMajor))
            throw new ArgumentException($"the manifest shelf {manifestShelf} must differ from the image shelf {options.Shelf} and from {AoeProtocol.BroadcastMajor} (broadcast)");
        if (options.ProfileShelf is { } profileShelf && (profileShelf == options.Shelf || profileShelf == options.ManifestShelf || profileShelf == AoeProtocol.BroadcastMajor))
            throw new ArgumentException($"the boot profile shelf {profileShelf} must differ from the image shelf {options.Shelf}, the manifest shelf and {AoeProtocol.BroadcastMajor} (broadcast)");
        var table = new AoeSlotTable(catalog, options);
        try
        {
            await table.RefreshAsync(cancellationToken);
            return table;
        }
        catch
        {
            await table.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Open what the catalog lists and the table lacks (new or replaced images), stop answering for what it no longer
    /// lists, and serve each image's boot profile as it is now; returns the slots added and removed.
    /// </summary>
    public async Task<(IReadOnlyList<AoeSlot> Added, IReadOnlyList<AoeSlot> Removed)> RefreshAsync(CancellationToken cancellationToken)
    {
        var catalog = _catalog ?? throw new InvalidOperationException("a fixed slot table has no catalog to refresh from");
        var listed = catalog.List().Where(l => l.AoeSlot is >= 0 and < AoeProtocol.BroadcastMinor).ToDictionary(l => l.Name);
        var current = _current;
        var kept = current.Where(slot => slot.Kind != AoeSlotKind.Profile
            && listed.TryGetValue(slot.Name, out var listing) && _openedFrom.GetValueOrDefault(slot.Name) == listing).ToList();
        var added = new List<AoeSlot>();
        var openedFrom = kept.Select(slot => slot.Name).Distinct().ToDictionary(name => name, name => _openedFrom[name]);
        var profiles = new Dictionary<string, byte[]>();
        try
        {
            foreach (var listing in listed.Values.Where(l => !openedFrom.ContainsKey(l.Name)).OrderBy(l => l.AoeSlot))
            {
                // An image removed since List() is simply not exported.
                var device = await catalog.OpenAsync(listing.Name, cancellationToken);
                if (device is null)
                    continue;
                var image = new AoeSlot((byte)listing.AoeSlot!.Value, listing.Name, device);
                added.Add(image);
                openedFrom[listing.Name] = listing;
                if (_options.ManifestShelf is not null && await ReadCompanionAsync(catalog, ExportNames.ManifestOf(listing.Name), cancellationToken) is { } manifest)
                    added.Add(Companion(image, manifest, AoeSlotKind.Manifest));
            }
            if (_options.ProfileShelf is not null)
                foreach (var image in kept.Concat(added).Where(slot => slot.Kind == AoeSlotKind.Image).ToList())
                {
                    if (await ReadCompanionAsync(catalog, ExportNames.ProfileOf(image.Name), cancellationToken) is not { } profile)
                        continue;
                    profiles[image.Name] = profile;
                    var serving = current.FirstOrDefault(slot => slot.Kind == AoeSlotKind.Profile && slot.Name == image.Name && slot.Number == image.Number);
                    if (serving is not null && _profiles[image.Name].AsSpan().SequenceEqual(profile))
                        kept.Add(serving);
                    else
                        added.Add(Companion(image, profile, AoeSlotKind.Profile));
                }
        }
        catch
        {
            foreach (var slot in added)
                await slot.Device.DisposeAsync();
            throw;
        }
        var removed = current.Except(kept).ToList();
        lock (_refreshing)
        {
            _retired.AddRange(removed);
            _openedFrom = openedFrom;
            _profiles = profiles;
            _current = [.. kept.Concat(added).OrderBy(slot => slot.Number).ThenBy(slot => slot.Kind)];
        }
        return (added, removed);
    }

    /// <summary>A companion of <paramref name="image"/> holding <paramref name="payload"/>, framed in memory.</summary>
    private static AoeSlot Companion(AoeSlot image, byte[] payload, AoeSlotKind kind) =>
        new(image.Number, image.Name, new MemoryBlockDevice(CompanionFrame.Frame(payload), writable: false), kind);

    /// <summary>The hidden export <paramref name="name"/> (a manifest, a boot profile) read whole; null when the catalog has none.</summary>
    private static async Task<byte[]?> ReadCompanionAsync(IExportCatalog catalog, string name, CancellationToken cancellationToken)
    {
        await using var export = await catalog.OpenAsync(name, cancellationToken);
        if (export is null)
            return null;
        if (export.Size > CompanionFrame.MaxPayloadLength)
            throw new InvalidDataException($"{name} has {export.Size} bytes, more than AoE initiators accept ({CompanionFrame.MaxPayloadLength})");
        var payload = new byte[export.Size];
        await export.ReadAsync(0, payload, cancellationToken);
        return payload;
    }

    public async ValueTask DisposeAsync()
    {
        AoeSlot[] all;
        lock (_refreshing)
        {
            all = [.. _current, .. _retired];
            _current = [];
            _retired.Clear();
        }
        foreach (var slot in all)
            await slot.Device.DisposeAsync();
    }
}
