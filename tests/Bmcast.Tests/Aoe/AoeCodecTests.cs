using Bmcast.Core.Aoe;
using Bmcast.Protocols.Aoe;
using Bmcast.TestKit.Aoe;

namespace Bmcast.Tests.Aoe;

public sealed class AoeCodecTests
{
    private static readonly MacAddress Target = new(0x52_54_00_12_34_56);

    [Fact]
    public void AoeHeaderRoundTripsWithTheSpecLayout()
    {
        var frame = new byte[AoeProtocol.MinimumFrameLength];
        var header = new AoeHeader(Target, AoeFrames.Initiator, AoeFlags.Response | AoeFlags.Error, AoeError.ConfigStringPresent,
            0x1234, 0x56, AoeCommand.QueryConfig, 0xDEADBEEF);
        header.Write(frame);

        Assert.Equal([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], frame[..6]);
        Assert.Equal([0x88, 0xA2], frame[12..14]);
        Assert.Equal(0x1C, frame[14]); // version 1, response, error
        Assert.Equal([0x04, 0x12, 0x34, 0x56, 0x01, 0xDE, 0xAD, 0xBE, 0xEF], frame[15..24]);
        Assert.Equal(AoeFrameStatus.Valid, AoeHeader.TryRead(frame, out var read));
        Assert.Equal(header, read);
        Assert.True(read.IsResponse && read.IsError);
    }

    [Fact]
    public void AtaHeaderKeepsTheLbaLeastSignificantByteFirst()
    {
        var frame = new byte[AoeProtocol.AtaDataOffset];
        var ata = new AtaHeader(AtaFlags.Extended, 0, 17, Ata.ReadSectorsExt, 0x0000_A1B2_C3D4_E5F6);
        ata.Write(frame);

        Assert.Equal([0x40, 0x00, 17, 0x24, 0xF6, 0xE5, 0xD4, 0xC3, 0xB2, 0xA1, 0, 0], frame[24..36]);
        Assert.Equal(AoeFrameStatus.Valid, AtaHeader.TryRead(frame, out var read));
        Assert.Equal(ata, read);
        Assert.Equal(0x0000_A1B2_C3D4_E5F6UL, read.EffectiveLba);
        Assert.Equal(0x03D4_E5F6UL, (read with { Flags = AtaFlags.None }).EffectiveLba); // LBA28 uses 28 bits
    }

    [Fact]
    public void ConfigHeaderCarriesItsString()
    {
        var frame = new byte[AoeProtocol.MinimumFrameLength];
        int length = new ConfigHeader(16, 0x4019, 2, ConfigCommand.TestPrefix, 0).Write(frame, "abc"u8);

        Assert.Equal(35, length);
        Assert.Equal([0x00, 0x10, 0x40, 0x19, 0x02, 0x12, 0x00, 0x03, (byte)'a'], frame[24..33]);
        Assert.Equal(AoeFrameStatus.Valid, ConfigHeader.TryRead(frame, out var read));
        Assert.Equal(new ConfigHeader(16, 0x4019, 2, ConfigCommand.TestPrefix, 3), read);
        Assert.Equal("abc"u8.ToArray(), read.StringOf(frame).ToArray());
    }

    [Fact]
    public void TruncatedAndForeignFramesAreTyped()
    {
        var frame = AoeFrames.Config(Target, 1, 2, ConfigCommand.Read, "x");
        Assert.Equal(AoeFrameStatus.Truncated, AoeHeader.TryRead(frame.AsSpan(0, 23), out _));
        Assert.Equal(AoeFrameStatus.Truncated, ConfigHeader.TryRead(frame.AsSpan(0, 31), out _));
        Assert.Equal(AoeFrameStatus.Truncated, AtaHeader.TryRead(frame.AsSpan(0, 35), out _));

        var ipv4 = (byte[])frame.Clone();
        ipv4[12] = 0x08;
        ipv4[13] = 0x00;
        Assert.Equal(AoeFrameStatus.NotAoe, AoeHeader.TryRead(ipv4, out _));

        var version2 = (byte[])frame.Clone();
        version2[14] = 0x20;
        Assert.Equal(AoeFrameStatus.UnsupportedVersion, AoeHeader.TryRead(version2, out _));

        var longString = (byte[])frame.Clone();
        longString[30] = 0x04;
        longString[31] = 0x01; // 1025 bytes
        Assert.Equal(AoeFrameStatus.BadConfigStringLength, ConfigHeader.TryRead(longString, out _));
        longString[30] = 0x00;
        longString[31] = 0x40; // 64 bytes: more than the frame holds
        Assert.Equal(AoeFrameStatus.Truncated, ConfigHeader.TryRead(longString, out _));
    }

    [Theory]
    [InlineData(1500, 2)]
    [InlineData(9000, 17)]
    [InlineData(500, 0)]
    public void SectorsPerFrameFollowTheMtu(int mtu, int sectors) => Assert.Equal(sectors, AoeProtocol.SectorsPerFrame(mtu));

    [Theory]
    [InlineData(1000UL)]
    [InlineData(0x1_0000_0000UL)]
    public void IdentifyReportsCapacityAndStrings(ulong sectors)
    {
        var block = new byte[AtaIdentify.Length];
        AtaIdentify.Write(block, sectors, "bmcast debian", "SN1", "1.0");

        Assert.Equal(sectors, AtaIdentify.ReadSectors(block));
        Assert.Equal("mbactsd beai n", System.Text.Encoding.ASCII.GetString(block, 54, 14)); // byte-swapped pairs
        var model = new char[AtaIdentify.ModelLength];
        Assert.Equal("bmcast debian", new string(model, 0, AtaIdentify.ReadModel(block, model)));
        var lba28Only = (byte[])block.Clone();
        lba28Only[166] = lba28Only[167] = lba28Only[172] = lba28Only[173] = 0; // words 83 and 86
        Assert.Equal(Math.Min(sectors, 0x0FFF_FFFFUL), AtaIdentify.ReadSectors(lba28Only));
    }

    [Fact]
    public void MacAddressesParseAndPrint()
    {
        Assert.True(MacAddress.TryParse("52:54:00:12:34:56", out var mac));
        Assert.Equal(Target, mac);
        Assert.Equal("52:54:00:12:34:56", mac.ToString());
        Assert.True(MacAddress.TryParse("52-54-00-12-34-56", out _));
        Assert.False(MacAddress.TryParse("52:54:00:12:34", out _));
        Assert.False(MacAddress.TryParse("52:54:00:12:34:zz", out _));
        Assert.True(MacAddress.Broadcast.IsGroup);
        Assert.False(mac.IsGroup);
    }

    [Fact]
    public void SourceAddressesParse()
    {
        Assert.Equal(new AoeAddress("veth0", 12, 3), AoeAddress.Parse("aoe:veth0/e12.3"));
        Assert.Equal("aoe:eth1/e0.0", AoeAddress.Parse("aoe:eth1/e0.0").ToString());
        foreach (string bad in new[] { "aoe:eth0", "aoe:/e1.1", "aoe:eth0/1.1", "aoe:eth0/e1", "aoe:eth0/e65535.0", "aoe:eth0/e0.255", "nbd://x/e0.0" })
            Assert.Throws<FormatException>(() => AoeAddress.Parse(bad));
    }
}
