using System.Text;
using Bmcast.Core.Aoe;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// The target's manifest companions (<see cref="AoeSlotTable"/>): each image's manifest framed on the manifest shelf, in the
/// image's slot, answered like any slot; and our initiator reading one back.
/// </summary>
public sealed class AoeManifestCompanionTests
{
    private const ushort Shelf = 4;
    private const ushort ManifestShelf = 9;
    private static readonly MacAddress Target = new(0x02_00_00_00_00_01);
    private static readonly MacAddress Initiator = new(0x02_00_00_00_00_02);
    private static readonly AoeTargetOptions Options = new() { Shelf = Shelf, ManifestShelf = ManifestShelf };
    private static readonly AoeInitiatorOptions Fast = new() { InitialTimeout = TimeSpan.FromMilliseconds(50), MaxTransmissions = 3 };
    private readonly byte[] _manifest = [.. Manifest.Magic, .. ReadOnlyTestDevice.RandomData(3000, seed: 8)];
    private readonly MemoryExportCatalog _catalog;

    public AoeManifestCompanionTests()
    {
        byte[] alpha = ReadOnlyTestDevice.RandomData(8192, seed: 1);
        _catalog = new MemoryExportCatalog()
            .Add("alpha", () => new ReadOnlyTestDevice(alpha))
            .Add(ExportNames.ManifestOf("alpha"), () => new ReadOnlyTestDevice(_manifest), hidden: true)
            .Add("beta", () => new ReadOnlyTestDevice(new byte[4096])); // no manifest: no companion
    }

    [Fact]
    public async Task EachImageWithAManifestGetsACompanionInItsSlot()
    {
        var slots = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);

        var handler = new AoeTargetHandler(Target, 1500, slots, Options, NullLogger.Instance);
        Assert.Equal(["alpha e4.0", "manifest of alpha e9.0", "beta e4.1"], slots.Current.Select(s => $"{s.Description} e{handler.ShelfOf(s)}.{s.Number}"));
        var companion = slots.Current[1];
        Assert.Equal(AoeSlotKind.Manifest, companion.Kind);
        Assert.Equal(CompanionFrame.FramedLength(_manifest.Length), companion.Device.Size);
        Assert.Equal(0, companion.Device.Size % AoeProtocol.SectorSize);
    }

    [Fact]
    public async Task AManifestShelfThatCollidesOrIsMissingIsRefused()
    {
        foreach (ushort shelf in new ushort[] { Shelf, AoeProtocol.BroadcastMajor })
            await Assert.ThrowsAsync<ArgumentException>(() =>
                AoeSlotTable.OpenAsync(_catalog, Options with { ManifestShelf = shelf }, TestContext.Current.CancellationToken));
        var slots = await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken);
        Assert.Throws<ArgumentException>(() => new AoeTargetHandler(Target, 1500, slots, Options with { ManifestShelf = null }, NullLogger.Instance));
    }

    [Fact]
    public async Task TheCompanionAnswersConfigAndIdentifyLikeAnySlotAndSaysWhatItHolds()
    {
        var handler = await HandlerAsync();
        var sink = new ReplyRecorder(handler.MaxReplyLength);

        await handler.HandleAsync(AoeFrames.Config(Target, ManifestShelf, 0, ConfigCommand.Read), sink, TestContext.Current.CancellationToken);
        await handler.HandleAsync(AoeFrames.Ata(Target, ManifestShelf, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None), sink, TestContext.Current.CancellationToken);
        await handler.HandleAsync(AoeFrames.Ata(Target, ManifestShelf, 1, Ata.IdentifyDevice, 0, 1, AtaFlags.None), sink, TestContext.Current.CancellationToken);

        Assert.Equal(2, sink.Frames.Count); // beta has no companion, so e9.1 is silent
        Assert.Equal(AoeFrameStatus.Valid, AoeHeader.TryRead(sink.Frames[0], out var config));
        Assert.Equal((ManifestShelf, (byte)0, false), (config.Major, config.Minor, config.IsError));
        byte[] identify = sink.Frames[1][AoeProtocol.AtaDataOffset..];
        Assert.Equal((ulong)CompanionFrame.FramedLength(_manifest.Length) / 512, AtaIdentify.ReadSectors(identify));
        Assert.Equal("bmcast manifest of alpha", AtaString(identify, 27, 40));
        Assert.Equal("bmcast-9.0", AtaString(identify, 10, 20));
    }

    [Fact]
    public async Task OurInitiatorReadsTheManifestBackFromTheCompanion()
    {
        byte[]? read = await WithTargetAsync(async link =>
        {
            await using var initiator = await AoeInitiator.ConnectAsync(link, ManifestShelf, 0, Fast, TestContext.Current.CancellationToken);
            await using var companion = new AoeImageSource(initiator, "e9.0");
            return await AoeManifestReader.ReadAsync(companion, NullLogger.Instance, TestContext.Current.CancellationToken);
        });

        Assert.Equal(_manifest, read);
    }

    [Fact]
    public async Task NoTargetAtTheCompanionAddressIsTellableFromATargetThatStopsAnswering()
    {
        var absent = await WithTargetAsync(link => Assert.ThrowsAsync<AoeNoReplyException>(() =>
            AoeInitiator.ConnectAsync(link, ManifestShelf, 1, Fast, TestContext.Current.CancellationToken)));
        Assert.False(absent.TargetFound);

        var silent = await WithTargetAsync(async link =>
        {
            var lossy = new LossyChannel(link, loss: 0, seed: 1);
            await using var initiator = await AoeInitiator.ConnectAsync(lossy, ManifestShelf, 0, Fast, TestContext.Current.CancellationToken);
            lossy.Loss = 1; // the target stops answering
            return await Assert.ThrowsAsync<AoeNoReplyException>(() => initiator.ReadSectorsAsync(0, new byte[512], TestContext.Current.CancellationToken));
        });
        Assert.True(silent.TargetFound);
    }

    [Fact]
    public void AnAddressNamesItsManifestCompanion()
    {
        Assert.Equal(new AoeAddress("eth1", 3, 2), AoeAddress.Parse("aoe:eth1/e2.2").Manifest);
        var explicitShelf = AoeAddress.Parse("aoe:eth1/e2.2?manifest-shelf=7");
        Assert.Equal(new AoeAddress("eth1", 7, 2), explicitShelf.Manifest);
        Assert.Equal("aoe:eth1/e2.2?manifest-shelf=7", explicitShelf.ToString());
        Assert.Null(AoeAddress.Parse("aoe:eth1/e65534.0").Manifest);
        foreach (string bad in new[] { "aoe:eth1/e2.2?manifest-shelf=2", "aoe:eth1/e2.2?manifest-shelf=65535", "aoe:eth1/e2.2?shelf=3", "aoe:eth1/e2.2?manifest-shelf=" })
            Assert.Throws<FormatException>(() => AoeAddress.Parse(bad));
    }

    /// <summary>Our target serving the catalog at the far end of an in-memory link while <paramref name="use"/> runs on the near end.</summary>
    private async Task<T> WithTargetAsync<T>(Func<IFrameChannel, Task<T>> use)
    {
        var (targetEnd, initiatorEnd) = InMemoryLink.Create(1500);
        await using var target = await AoeTarget.CreateAsync(targetEnd, _catalog, Options, NullLogger.Instance, TestContext.Current.CancellationToken);
        using var stop = new CancellationTokenSource();
        var serving = target.RunAsync(stop.Token);
        try
        {
            return await use(initiatorEnd);
        }
        finally
        {
            stop.Cancel();
            await serving;
        }
    }

    private async Task<AoeTargetHandler> HandlerAsync() =>
        new(Target, 1500, await AoeSlotTable.OpenAsync(_catalog, Options, TestContext.Current.CancellationToken), Options, NullLogger.Instance);

    /// <summary>An ATA string: two characters per word, the first in the high byte, space-padded.</summary>
    private static string AtaString(byte[] identify, int word, int length)
    {
        var text = new StringBuilder();
        for (int i = 0; i < length; i++)
            text.Append((char)identify[word * 2 + (i ^ 1)]);
        return text.ToString().TrimEnd();
    }
}
