using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// The slots a target exports from a catalog: the listed exports, sorted by name (ordinal), become slots 0, 1, 2...
/// of <see cref="AoeTargetOptions.Shelf"/>; with <see cref="AoeTargetOptions.ManifestShelf"/> set, each image's signed
/// manifest (the catalog's <c>manifest:NAME</c>) is the same slot number on that shelf, framed as a
/// <see cref="ManifestFrame"/>.
/// </summary>
public static class AoeSlotTable
{
    /// <summary>Open every slot (at most 255 images: slot 0xFF is the broadcast address).</summary>
    public static async Task<IReadOnlyList<AoeSlot>> OpenAsync(IExportCatalog catalog, AoeTargetOptions options, CancellationToken cancellationToken)
    {
        if (options.ManifestShelf is { } manifestShelf && (manifestShelf == options.Shelf || manifestShelf == AoeProtocol.BroadcastMajor))
            throw new ArgumentException($"the manifest shelf {manifestShelf} must differ from the image shelf {options.Shelf} and from {AoeProtocol.BroadcastMajor} (broadcast)");
        var names = catalog.List().Select(e => e.Name).Order(StringComparer.Ordinal).ToList();
        if (names.Count > AoeProtocol.BroadcastMinor)
            throw new ArgumentException($"{names.Count} images do not fit one shelf's {AoeProtocol.BroadcastMinor} slots");
        var slots = new List<AoeSlot>();
        try
        {
            for (int slot = 0; slot < names.Count; slot++)
            {
                // An image removed since List() leaves its slot number unused rather than renumbering the rest.
                var device = await catalog.OpenAsync(names[slot], cancellationToken);
                if (device is null)
                    continue;
                slots.Add(new AoeSlot((byte)slot, names[slot], device));
                if (options.ManifestShelf is not null && await OpenManifestAsync(catalog, names[slot], cancellationToken) is { } manifest)
                    slots.Add(new AoeSlot((byte)slot, names[slot], manifest, AoeSlotKind.Manifest));
            }
        }
        catch
        {
            foreach (var slot in slots)
                await slot.Device.DisposeAsync();
            throw;
        }
        return slots;
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
}
