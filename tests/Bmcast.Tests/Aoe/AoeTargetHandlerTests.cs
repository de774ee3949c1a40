using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

public sealed class AoeTargetHandlerTests
{
    private const ushort Shelf = 4;
    private static readonly MacAddress Target = new(0x02_00_00_00_00_01);
    private readonly byte[] _data = ReadOnlyTestDevice.RandomData(64 * 1024 + 100, seed: 5);
    private readonly ReadOnlyTestDevice _device;
    private readonly AoeTargetHandler _handler;

    public AoeTargetHandlerTests()
    {
        _device = new ReadOnlyTestDevice(_data);
        var slots = new[] { new AoeSlot(0, "alpha", _device), new AoeSlot(1, "beta", new ReadOnlyTestDevice(new byte[4096])) };
        _handler = new AoeTargetHandler(Target, 9000, new AoeSlotTable(slots), new AoeTargetOptions { Shelf = Shelf, BufferCount = 32 }, NullLogger.Instance);
    }

    private async Task<List<byte[]>> SendAsync(byte[] request)
    {
        var sender = new ReplyRecorder(_handler.MaxReplyLength);
        await _handler.HandleAsync(request, sender, TestContext.Current.CancellationToken);
        return sender.Frames;
    }

    private async Task<byte[]> SendOneAsync(byte[] request)
    {
        var replies = await SendAsync(request);
        return Assert.Single(replies);
    }

    [Fact]
    public async Task ConfigQueryAdvertisesBuffersAndSectorsAndIsPadded()
    {
        byte[] reply = await SendOneAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Read, tag: 0x01020304));

        Assert.Equal(AoeProtocol.MinimumFrameLength, reply.Length);
        Assert.Equal(AoeFrameStatus.Valid, AoeHeader.TryRead(reply, out var header));
        Assert.Equal(new AoeHeader(AoeFrames.Initiator, Target, AoeFlags.Response, AoeError.None, Shelf, 0, AoeCommand.QueryConfig, 0x01020304), header);
        Assert.Equal(AoeFrameStatus.Valid, ConfigHeader.TryRead(reply, out var config));
        Assert.Equal(new ConfigHeader(32, 1, 17, ConfigCommand.Read, 0), config);
    }

    [Fact]
    public async Task ConfigStringSemanticsFollowTheSpec()
    {
        byte[] set = await SendOneAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Set, "owner=a"));
        Assert.Equal("owner=a", ConfigString(set));
        Assert.Equal("owner=a", ConfigString(await SendOneAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Set, "owner=a"))));

        byte[] refused = await SendOneAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Set, "owner=b"));
        AoeHeader.TryRead(refused, out var header);
        Assert.True(header.IsError);
        Assert.Equal(AoeError.ConfigStringPresent, header.Error);

        Assert.Single(await SendAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Test, "owner=a")));
        Assert.Empty(await SendAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Test, "owner")));
        Assert.Single(await SendAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.TestPrefix, "owner")));
        Assert.Empty(await SendAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.TestPrefix, "other")));

        Assert.Equal("owner=b", ConfigString(await SendOneAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.ForceSet, "owner=b"))));
        Assert.Equal("owner=b", ConfigString(await SendOneAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Read))));
        Assert.Equal("", ConfigString(await SendOneAsync(AoeFrames.Config(Target, Shelf, 1, ConfigCommand.Read)))); // per slot
    }

    [Fact]
    public async Task BroadcastQueriesAreAnsweredByEverySlot()
    {
        var replies = await SendAsync(AoeFrames.Config(MacAddress.Broadcast, AoeProtocol.BroadcastMajor, AoeProtocol.BroadcastMinor, ConfigCommand.Read));
        Assert.Equal(2, replies.Count);
        Assert.Empty(await SendAsync(AoeFrames.Config(Target, Shelf + 1, 0, ConfigCommand.Read)));
        Assert.Empty(await SendAsync(AoeFrames.Config(Target, Shelf, 2, ConfigCommand.Read)));
    }

    [Fact]
    public async Task IdentifyGivesTheCapacityRoundedUpToSectors()
    {
        byte[] reply = await SendOneAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.IdentifyDevice, 0, 1, AtaFlags.None));
        AtaHeader.TryRead(reply, out var ata);
        Assert.Equal(Ata.StatusReady, ata.CommandOrStatus);
        Assert.Equal(AoeProtocol.AtaDataOffset + AtaIdentify.Length, reply.Length);
        Assert.Equal((ulong)(_data.Length + 511) / 512, AtaIdentify.ReadSectors(reply.AsSpan(AoeProtocol.AtaDataOffset)));
    }

    [Theory]
    [InlineData(Ata.ReadSectorsExt, AtaFlags.Extended)]
    [InlineData(Ata.ReadDmaExt, AtaFlags.Extended)]
    [InlineData(Ata.ReadSectors, AtaFlags.None)]
    public async Task ReadsReturnTheDeviceBytes(byte command, AtaFlags flags)
    {
        byte[] reply = await SendOneAsync(AoeFrames.Ata(Target, Shelf, 0, command, 10, 17, flags));
        AtaHeader.TryRead(reply, out var ata);
        Assert.Equal(Ata.StatusReady, ata.CommandOrStatus);
        Assert.Equal(10UL, ata.Lba);
        Assert.Equal(_data.AsSpan(10 * 512, 17 * 512).ToArray(), reply.AsSpan(AoeProtocol.AtaDataOffset).ToArray());
    }

    [Fact]
    public async Task TheLastPartialSectorReadsZeroPadded()
    {
        ulong last = (ulong)_data.Length / 512;
        byte[] reply = await SendOneAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.ReadSectorsExt, last, 1));
        Assert.Equal(_data.AsSpan((int)last * 512).ToArray(), reply.AsSpan(AoeProtocol.AtaDataOffset, 100).ToArray());
        Assert.True(reply.AsSpan(AoeProtocol.AtaDataOffset + 100, 412).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public async Task WritesOutOfRangeAndOversizedRequestsAreRefused()
    {
        var write = AoeFrames.Ata(Target, Shelf, 0, Ata.WriteSectorsExt, 0, 1, AtaFlags.Extended | AtaFlags.Write, dataLength: 512);
        AssertAtaError(await SendOneAsync(write), Ata.ErrorAborted);
        AssertAtaError(await SendOneAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.ReadSectorsExt, 200, 1)), Ata.ErrorIdNotFound | Ata.ErrorAborted);
        AssertAtaError(await SendOneAsync(AoeFrames.Ata(Target, Shelf, 0, 0xB0 /* SMART */, 0, 0)), Ata.ErrorAborted);

        AoeHeader.TryRead(await SendOneAsync(AoeFrames.Ata(Target, Shelf, 0, Ata.ReadSectorsExt, 0, 18)), out var header);
        Assert.Equal(AoeError.BadArgument, header.Error);
        Assert.Equal(0, _device.Writes);
    }

    [Fact]
    public async Task UnknownCommandsGetAnAoeError()
    {
        var request = AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Read);
        request[19] = (byte)AoeCommand.ReserveRelease;
        AoeHeader.TryRead(await SendOneAsync(request), out var header);
        Assert.True(header.IsError);
        Assert.Equal(AoeError.UnrecognizedCommand, header.Error);
    }

    [Fact]
    public async Task OnlyAllowedInitiatorsAreAnswered()
    {
        var slots = new[] { new AoeSlot(0, "alpha", _device) };
        var allowOther = new AoeTargetOptions { Shelf = Shelf, AllowedInitiators = new HashSet<MacAddress> { new(0x02_00_00_00_00_42) } };
        var handler = new AoeTargetHandler(Target, 1500, new AoeSlotTable(slots), allowOther, NullLogger.Instance);
        var sender = new ReplyRecorder(handler.MaxReplyLength);
        await handler.HandleAsync(AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Read), sender, TestContext.Current.CancellationToken);
        Assert.Empty(sender.Frames);
        Assert.Equal(1, handler.Dropped);
    }

    [Fact]
    public async Task ResponsesAndFramesForOtherMacsAreIgnored()
    {
        var response = AoeFrames.Config(Target, Shelf, 0, ConfigCommand.Read);
        response[14] |= (byte)AoeFlags.Response;
        Assert.Empty(await SendAsync(response));
        Assert.Empty(await SendAsync(AoeFrames.Config(new MacAddress(0x02_00_00_00_00_77), Shelf, 0, ConfigCommand.Read)));
    }

    private static void AssertAtaError(byte[] reply, byte error)
    {
        Assert.Equal(AoeFrameStatus.Valid, AoeHeader.TryRead(reply, out var header));
        Assert.False(header.IsError);
        AtaHeader.TryRead(reply, out var ata);
        Assert.Equal(Ata.StatusReady | Ata.StatusError, ata.CommandOrStatus);
        Assert.Equal(error, ata.ErrorOrFeature);
        Assert.Equal(AoeProtocol.MinimumFrameLength, reply.Length);
    }

    private static string ConfigString(byte[] reply)
    {
        Assert.Equal(AoeFrameStatus.Valid, ConfigHeader.TryRead(reply, out var config));
        return System.Text.Encoding.ASCII.GetString(config.StringOf(reply));
    }
}
