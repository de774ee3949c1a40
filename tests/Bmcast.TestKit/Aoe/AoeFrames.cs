using Bmcast.Core.Aoe;

namespace Bmcast.TestKit.Aoe;

/// <summary>Request frames as an initiator (or a fuzzer) would build them.</summary>
public static class AoeFrames
{
    public static readonly MacAddress Initiator = new(0x02_00_00_00_00_99);

    public static byte[] Config(MacAddress target, ushort shelf, byte slot, ConfigCommand command, string value = "", uint tag = 7)
    {
        var frame = new byte[Math.Max(AoeProtocol.MinimumFrameLength, AoeProtocol.ConfigStringOffset + value.Length)];
        new AoeHeader(target, Initiator, AoeFlags.None, AoeError.None, shelf, slot, AoeCommand.QueryConfig, tag).Write(frame);
        new ConfigHeader(0, 0, 0, command, 0).Write(frame, System.Text.Encoding.ASCII.GetBytes(value));
        return frame;
    }

    public static byte[] Ata(MacAddress target, ushort shelf, byte slot, byte command, ulong lba, byte sectors,
        AtaFlags flags = AtaFlags.Extended, uint tag = 9, int dataLength = 0)
    {
        var frame = new byte[Math.Max(AoeProtocol.MinimumFrameLength, AoeProtocol.AtaDataOffset + dataLength)];
        new AoeHeader(target, Initiator, AoeFlags.None, AoeError.None, shelf, slot, AoeCommand.Ata, tag).Write(frame);
        new AtaHeader(flags, 0, sectors, command, lba).Write(frame);
        return frame;
    }
}
