namespace Bmcast.Core.Storage;

/// <summary>
/// A catalog of named device factories held in memory, for servers in one process (tests, fuzzing);
/// hidden exports open by name but are not listed.
/// </summary>
public sealed class MemoryExportCatalog : IExportCatalog
{
    private readonly Dictionary<string, (Func<IBlockDevice> Open, string Description, bool Hidden)> _exports = [];

    public MemoryExportCatalog Add(string name, Func<IBlockDevice> open, string description = "", bool hidden = false)
    {
        _exports[name] = (open, description, hidden);
        return this;
    }

    public IReadOnlyList<ExportListing> List() =>
        _exports.Where(e => !e.Value.Hidden).Select(e => new ExportListing(e.Key, e.Value.Description)).ToList();

    public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_exports.TryGetValue(name, out var export) ? export.Open() : null);
}
