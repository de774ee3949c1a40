using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// The slots a target exports. From a catalog: every listed export with an AoE slot number
/// (<see cref="ExportListing.AoeSlot"/>, which an image keeps for its life) is that slot of
/// <see cref="AoeTargetOptions.Shelf"/>; with <see cref="AoeTargetOptions.ManifestShelf"/> set, each image's signed
/// manifest (the catalog's <c>manifest:NAME</c>) is the same slot number on that shelf, framed as a
/// <see cref="ManifestFrame"/>. <see cref="RefreshAsync"/> brings it up to date with the catalog while frames are
/// being answered: readers take <see cref="Current"/>, an array that is replaced, never changed.
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
    /// lists; returns the slots added and removed.
    /// </summary>
    public async Task<(IReadOnlyList<AoeSlot> Added, IReadOnlyList<AoeSlot> Removed)> RefreshAsync(CancellationToken cancellationToken)
    {
        var catalog = _catalog ?? throw new InvalidOperationException("a fixed slot table has no catalog to refresh from");
        var listed = catalog.List().Where(l => l.AoeSlot is >= 0 and < AoeProtocol.BroadcastMinor).ToDictionary(l => l.Name);
        var current = _current;
        var kept = current.Where(slot => listed.TryGetValue(slot.Name, out var listing) && _openedFrom.GetValueOrDefault(slot.Name) == listing).ToList();
        var removed = current.Except(kept).ToList();
        var added = new List<AoeSlot>();
        var openedFrom = kept.Select(slot => slot.Name).Distinct().ToDictionary(name => name, name => _openedFrom[name]);
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
                if (_options.ManifestShelf is not null && await OpenManifestAsync(catalog, listing.Name, cancellationToken) is { } manifest)
                    added.Add(new AoeSlot(image.Number, listing.Name, manifest, AoeSlotKind.Manifest));
            }
        }
        catch
        {
            foreach (var slot in added)
                await slot.Device.DisposeAsync();
            throw;
        }
        lock (_refreshing)
        {
            _retired.AddRange(removed);
            _openedFrom = openedFrom;
            _current = [.. kept, .. added];
        }
        return (added, removed);
    }

    /// <summary>The image's encoded manifest framed in memory; null when the catalog has none for it.</summary>
    private static async Task<IBlockDevice?> OpenManifestAsync(IExportCatalog catalog, string image, CancellationToken cancellationToken)
    {
        await using var export = await catalog.OpenAsync(ExportNames.ManifestOf(image), cancellationToken);
        if (export is null)
            return null;
        if (export.Size > ManifestFrame.MaxManifestLength)
            throw new InvalidDataException($"the manifest of {image} has {export.Size} bytes, more than AoE initiators accept ({ManifestFrame.MaxManifestLength})");
        var encoded = new byte[export.Size];
        await export.ReadAsync(0, encoded, cancellationToken);
        return new MemoryBlockDevice(ManifestFrame.Frame(encoded), writable: false);
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
