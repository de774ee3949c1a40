using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Protocols.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// The target's boot profile companions (<see cref="AoeSlotTable"/>): each image's profile, when it has one, framed on the
/// profile shelf in the image's slot; recorded, replaced or dropped while serving, it follows on the next refresh.
/// </summary>
public sealed class AoeProfileCompanionTests
{
    private const ushort Shelf = 4;
    private const ushort ManifestShelf = 5;
    private const ushort ProfileShelf = 6;
    private static readonly MacAddress Target = new(0x02_00_00_00_00_01);
    private static readonly AoeTargetOptions Options = new() { Shelf = Shelf, ManifestShelf = ManifestShelf, ProfileShelf = ProfileShelf };
    private static readonly AoeCompanionReader ProfileReader = new("boot profile", BootProfile.Magic.ToArray());
    private readonly MemoryExportCatalog _catalog = new MemoryExportCatalog().Add("alpha", Device).Add("beta", Device);

    [Fact]
    public async Task AnImageWithAProfileGetsACompanionOnTheProfileShelfAndOneWithoutGetsNone()
    {
        byte[] profile = Profile(7, 3);
        Record("beta", profile);

        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);

        var handler = new AoeTargetHandler(Target, 1500, table, Options, NullLogger.Instance);
        Assert.Equal(["alpha e4.0", "beta e4.1", "boot profile of beta e6.1"], table.Current.Select(s => $"{s.Description} e{handler.ShelfOf(s)}.{s.Number}"));
        Assert.Equal(profile, await ReadBackAsync(table.Current[2]));
    }

    [Fact]
    public async Task AProfileRecordedReplacedOrDroppedWhileServingFollowsOnRefresh()
    {
        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        Assert.DoesNotContain(table.Current, s => s.Kind == AoeSlotKind.Profile);

        Record("alpha", Profile(1, 2));
        var (added, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);
        var first = Assert.Single(added);
        Assert.Equal(("boot profile of alpha", (byte)0), (first.Description, first.Number));
        Assert.Empty(removed);

        // Nothing changed: the slot stays (a refresh every 2 s must not churn slots).
        (added, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);
        Assert.Empty(added);
        Assert.Empty(removed);
        Assert.Contains(first, table.Current);

        // Replaced by a profile of the same length: the listing is the same, the content is not.
        Record("alpha", Profile(2, 1));
        (added, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);
        Assert.Same(first, Assert.Single(removed));
        Assert.Equal(Profile(2, 1), await ReadBackAsync(Assert.Single(added)));
        Assert.Equal(["alpha 0", "boot profile of alpha 0", "beta 1"], table.Current.Select(s => $"{s.Description} {s.Number}"));

        _catalog.Remove(ExportNames.ProfileOf("alpha"));
        (added, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);
        Assert.Empty(added);
        Assert.Equal(AoeSlotKind.Profile, Assert.Single(removed).Kind);
    }

    [Fact]
    public async Task ARemovedImageTakesItsProfileWithIt()
    {
        Record("beta", Profile(0));
        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        _catalog.Remove("beta");

        var (_, removed) = await table.RefreshAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["beta", "boot profile of beta"], removed.Select(s => s.Description).Order());
        Assert.Equal(["alpha 0"], table.Current.Select(s => $"{s.Description} {s.Number}"));
    }

    [Fact]
    public async Task AProfileShelfThatCollidesIsRefused()
    {
        foreach (ushort shelf in new ushort[] { Shelf, ManifestShelf, AoeProtocol.BroadcastMajor })
            await Assert.ThrowsAsync<ArgumentException>(() =>
                AoeSlotTable.OpenAsync(_catalog, Options with { ProfileShelf = shelf }, TestContext.Current.CancellationToken));
        Record("alpha", Profile(1));
        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        Assert.Throws<ArgumentException>(() => new AoeTargetHandler(Target, 1500, table, Options with { ProfileShelf = null }, NullLogger.Instance));
    }

    [Fact]
    public async Task WithoutAProfileShelfNoProfilesAreServed()
    {
        Record("alpha", Profile(1));

        await using var table = await AoeSlotTable.OpenAsync(_catalog, Options with { ProfileShelf = null }, TestContext.Current.CancellationToken);

        Assert.DoesNotContain(table.Current, s => s.Kind == AoeSlotKind.Profile);
    }

    [Fact]
    public void TheAddressNamesTheProfileShelfTwoAboveOrAsGiven()
    {
        Assert.Equal(new AoeAddress("eth1", 4, 2), AoeAddress.Parse("aoe:eth1/e2.2").Profile);
        Assert.Null(AoeAddress.Parse("aoe:eth1/e65533.2").Profile);
        var both = AoeAddress.Parse("aoe:eth1/e2.2?manifest-shelf=7&profile-shelf=9");
        Assert.Equal((new AoeAddress("eth1", 7, 2), new AoeAddress("eth1", 9, 2)), (both.Manifest, both.Profile));
        Assert.Equal("aoe:eth1/e2.2?manifest-shelf=7&profile-shelf=9", both.ToString());
        Assert.Equal("aoe:eth1/e2.2?profile-shelf=9", AoeAddress.Parse("aoe:eth1/e2.2?profile-shelf=9").ToString());
        foreach (string bad in new[] { "aoe:eth1/e2.2?profile-shelf=2", "aoe:eth1/e2.2?profile-shelf=65535", "aoe:eth1/e2.2?manifest-shelf=7&profile-shelf=7", "aoe:eth1/e2.2?profile-shelf=" })
            Assert.Throws<FormatException>(() => AoeAddress.Parse(bad));
    }

    private void Record(string image, byte[] profile) =>
        _catalog.Add(ExportNames.ProfileOf(image), () => new ReadOnlyTestDevice(profile), hidden: true);

    private static byte[] Profile(params int[] chunks) =>
        [.. BootProfile.Magic, .. System.Text.Encoding.ASCII.GetBytes(string.Concat(chunks.Select(c => $"\n{c}")) + "\n")];

    private static async Task<byte[]?> ReadBackAsync(AoeSlot slot)
    {
        var framed = new byte[slot.Device.Size];
        await slot.Device.ReadAsync(0, framed, TestContext.Current.CancellationToken);
        await using var source = new MemoryImageSource(framed, slot.Description);
        return await ProfileReader.ReadAsync(source, NullLogger.Instance, Microsoft.Extensions.Logging.LogLevel.Information, TestContext.Current.CancellationToken);
    }

    private static IBlockDevice Device() => new ReadOnlyTestDevice(new byte[4096]);
}
