namespace Bmcast.Core.Storage;

/// <summary>
/// A catalog of named device factories held in memory, for servers in one process (tests, fuzzing);
/// hidden exports open by name but are not listed. Listed exports take AoE slots 0, 1, 2... in the order added; one added
/// again under its name (a replaced image) keeps its slot.
/// </summary>
public sealed class MemoryExportCatalog : IExportCatalog
{
    private readonly Dictionary<string, (Func<IBlockDevice> Open, string Description, int? AoeSlot)> _exports = [];
    private int _nextAoeSlot;

    public MemoryExportCatalog Add(string name, Func<IBlockDevice> open, string description = "", bool hidden = false)
    {
        int? slot = hidden ? null : _exports.TryGetValue(name, out var existing) && existing.AoeSlot is { } kept ? kept : _nextAoeSlot++;
        _exports[name] = (open, description, slot);
        return this;
    }

    public MemoryExportCatalog Remove(string name)
    {
        _exports.Remove(name);
        return this;
    }

    public IReadOnlyList<ExportListing> List() =>
        _exports.Where(e => e.Value.AoeSlot is not null).Select(e => new ExportListing(e.Key, e.Value.Description, e.Value.AoeSlot)).ToList();

    public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_exports.TryGetValue(name, out var export) ? export.Open() : null);
}
