using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Xunit;

namespace Bmcast.Tests.Aoe;

/// <summary>The target's slots follow the catalog: each export on its own slot number, kept up to date while serving.</summary>
public sealed class AoeSlotTableTests
{
    private static readonly AoeTargetOptions Options = new() { Shelf = 1, ManifestShelf = 2 };
    private readonly MemoryExportCatalog _catalog = new();

    [Fact]
    public async Task Slots_are_the_catalogs_numbers_not_name_order()
    {
        _catalog.Add("zulu", Device).Add("alpha", Device);

        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);

        Assert.Equal(["zulu 0", "alpha 1"], Describe(table));
    }

    [Fact]
    public async Task An_export_added_while_serving_answers_after_a_refresh_with_its_manifest()
    {
        _catalog.Add("one", Device);
        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        _catalog.Add("two", Device).Add(ExportNames.ManifestOf("two"), Device, hidden: true);

        var (added, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["two 1", "manifest of two 1"], added.Select(s => $"{s.Description} {s.Number}"));
        Assert.Empty(removed);
        Assert.Equal(["one 0", "two 1", "manifest of two 1"], Describe(table));
    }

    [Fact]
    public async Task A_removed_export_stops_answering_but_its_device_closes_only_with_the_table()
    {
        var devices = new List<ReadOnlyTestDevice>();
        _catalog.Add("one", Device).Add("two", () => Tracked(devices));
        var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        _catalog.Remove("two");

        var (_, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal("two", Assert.Single(removed).Name);
        Assert.Equal(["one 0"], Describe(table));
        Assert.False(Assert.Single(devices).Disposed); // a receive thread may still be reading it
        await table.DisposeAsync();
        Assert.True(devices[0].Disposed);
    }

    [Fact]
    public async Task A_replaced_export_is_reopened_in_its_slot_and_an_unchanged_one_is_left_alone()
    {
        var opened = new List<ReadOnlyTestDevice>();
        _catalog.Add("one", () => Tracked(opened), "root aaa").Add("two", Device, "root bbb");
        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        var two = table.Current[1];
        _catalog.Add("one", () => Tracked(opened), "root ccc");

        var (added, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(("one", (byte)0), (Assert.Single(added).Name, added[0].Number));
        Assert.Equal("one", Assert.Single(removed).Name);
        Assert.Equal(2, opened.Count);
        Assert.Same(two, table.Current.Single(s => s.Name == "two"));
    }

    private static IBlockDevice Device() => new ReadOnlyTestDevice(new byte[4096]);

    private static IBlockDevice Tracked(List<ReadOnlyTestDevice> opened)
    {
        var device = new ReadOnlyTestDevice(new byte[4096]);
        opened.Add(device);
        return device;
    }

    private static string[] Describe(AoeSlotTable table) => [.. table.Current.Select(s => $"{s.Description} {s.Number}")];
}
