namespace Bmcast.Core.Storage;

/// <summary>
/// A catalog of named device factories held in memory, for servers in one process (tests, fuzzing);
/// hidden exports open by name but are not listed. Listed exports take AoE slots 0, 1, 2... in the order added.
/// </summary>
public sealed class MemoryExportCatalog : IExportCatalog
{
    private readonly Dictionary<string, (Func<IBlockDevice> Open, string Description, int? AoeSlot)> _exports = [];
    private int _nextAoeSlot;

    public MemoryExportCatalog Add(string name, Func<IBlockDevice> open, string description = "", bool hidden = false)
    {
        _exports[name] = (open, description, hidden ? null : _nextAoeSlot++);
        return this;
    }

    public IReadOnlyList<ExportListing> List() =>
        _exports.Where(e => e.Value.AoeSlot is not null).Select(e => new ExportListing(e.Key, e.Value.Description, e.Value.AoeSlot)).ToList();

    public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_exports.TryGetValue(name, out var export) ? export.Open() : null);
}
