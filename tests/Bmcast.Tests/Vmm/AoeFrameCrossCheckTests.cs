using Bmcast.Core.Aoe;
using Bmcast.Vmm.Shared;
using CsCheck;

namespace Bmcast.Tests.Vmm;

/// <summary>The hypervisor's AoE frame code (vmm/src/Shared/AoeFrame.cs) against Bmcast.Core.Aoe, byte for byte.</summary>
public sealed unsafe class AoeFrameCrossCheckTests
{
    private static readonly Gen<AoeHeader> GenHeader = Gen.Select(Gen.ULong[0, 0xFFFF_FFFF_FFFF], Gen.ULong[0, 0xFFFF_FFFF_FFFF],
        Gen.Byte[0, 15], Gen.Byte, Gen.UShort, Gen.Byte, Gen.Byte, Gen.UInt).Select((dst, src, flags, error, major, minor, command, tag) =>
        new AoeHeader(new MacAddress(dst), new MacAddress(src), (AoeFlags)flags, (AoeError)error, major, minor, (AoeCommand)command, tag));

    [Fact]
    public void Headers_encode_like_AoeHeader_and_decode_what_it_writes() =>
        GenHeader.Sample(header =>
        {
            var ours = new byte[AoeFrame.HeaderLength];
            var core = new byte[AoeFrame.HeaderLength];
            header.Write(core);
            fixed (byte* o = ours)
            fixed (byte* c = core)
            {
                AoeFrame.WriteHeader(o, Mac(header.Destination), Mac(header.Source), (byte)header.Flags, (byte)header.Error,
                    header.Major, header.Minor, (byte)header.Command, header.Tag);
                Assert.True(AoeFrame.TryReadHeader(c, core.Length, out var read));
                Assert.Equal(Mac(header.Destination), read.Destination);
                Assert.Equal(Mac(header.Source), read.Source);
                Assert.Equal((byte)header.Flags, read.Flags);
                Assert.Equal((byte)header.Error, read.Error);
                Assert.Equal(header.Major, read.Major);
                Assert.Equal(header.Minor, read.Minor);
                Assert.Equal((byte)header.Command, read.Command);
                Assert.Equal(header.Tag, read.Tag);
                Assert.Equal(header.IsResponse, read.IsResponse);
                Assert.Equal(header.IsError, read.IsError);
                Assert.False(AoeFrame.TryReadHeader(c, core.Length - 1, out _));
            }
            Assert.Equal(core, ours);
        }, iter: 2000);

    [Fact]
    public void Foreign_and_other_version_frames_are_not_read_as_AoE()
    {
        var frame = new byte[AoeFrame.HeaderLength];
        new AoeHeader(new MacAddress(1), new MacAddress(2), AoeFlags.Response, 0, 1, 1, AoeCommand.Ata, 7).Write(frame);
        fixed (byte* f = frame)
        {
            f[14] = 0x28;   // version 2
            Assert.False(AoeFrame.TryReadHeader(f, frame.Length, out _));
            f[14] = 0x18;
            f[13] = 0x00;   // ethertype 0x8800
            Assert.False(AoeFrame.TryReadHeader(f, frame.Length, out _));
        }
    }

    [Fact]
    public void Ata_headers_encode_like_AtaHeader() =>
        Gen.Select(Gen.Byte, Gen.Byte, Gen.Byte, Gen.Byte, Gen.ULong[0, AtaHeader.MaxLba]).Sample((flags, feature, count, command, lba) =>
        {
            var ours = new byte[AoeFrame.AtaDataOffset];
            var core = new byte[AoeFrame.AtaDataOffset];
            new AtaHeader((AtaFlags)flags, feature, count, command, lba).Write(core);
            fixed (byte* o = ours)
            {
                AoeFrame.WriteAta(o, flags, feature, count, command, lba);
                Assert.True(AoeFrame.TryReadAtaStatus(o, ours.Length, out byte status));
                Assert.Equal(command, status);   // a reply's status sits where a request's command does
                Assert.False(AoeFrame.TryReadAtaStatus(o, ours.Length - 1, out _));
            }
            Assert.Equal(core[24..], ours[24..]);
        }, iter: 2000);

    [Fact]
    public void A_config_query_is_the_header_ConfigHeader_writes_for_a_read_without_a_string()
    {
        var ours = new byte[AoeFrame.ConfigStringOffset];
        var core = new byte[AoeFrame.ConfigStringOffset];
        new ConfigHeader(0, 0, 0, ConfigCommand.Read, 0).Write(core, []);
        fixed (byte* o = ours)
            AoeFrame.WriteConfigQuery(o);
        Assert.Equal(core[24..], ours[24..]);
    }

    [Fact]
    public void The_config_reply_sector_count_and_the_identify_capacity_read_like_Core() =>
        Gen.Select(Gen.Byte, Gen.ULong[0, AtaHeader.MaxLba]).Sample((sectors, capacity) =>
        {
            var config = new byte[AoeFrame.ConfigStringOffset];
            new ConfigHeader(16, 1, sectors, ConfigCommand.Read, 0).Write(config, []);
            var identify = new byte[AtaIdentify.Length];
            AtaIdentify.Write(identify, capacity, "model", "serial", "fw");
            fixed (byte* c = config)
            fixed (byte* i = identify)
            {
                Assert.True(AoeFrame.TryReadConfigSectors(c, config.Length, out byte read));
                Assert.Equal(sectors, read);
                Assert.Equal(AtaIdentify.ReadSectors(identify), AoeFrame.IdentifySectors(i));
                identify[173] = identify[167] = 0;   // no LBA48: the LBA28 words count
                Assert.Equal(AtaIdentify.ReadSectors(identify), AoeFrame.IdentifySectors(i));
            }
        }, iter: 500);

    [Theory]
    [InlineData(1500)]
    [InlineData(9000)]
    [InlineData(100)]
    [InlineData(10)]
    public void Sectors_per_frame_follow_the_mtu_like_AoeProtocol(int mtu) =>
        Assert.Equal(AoeProtocol.SectorsPerFrame(mtu), AoeFrame.SectorsPerFrame(mtu));

    private static ulong Mac(MacAddress mac)
    {
        Span<byte> bytes = stackalloc byte[6];
        mac.Write(bytes);
        fixed (byte* b = bytes)
            return AoeFrame.ReadMac(b);
    }
}
