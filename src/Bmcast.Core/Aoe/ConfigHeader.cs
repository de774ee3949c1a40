using System.Buffers.Binary;

namespace Bmcast.Core.Aoe;

/// <summary>
/// The Query Config header (bytes 24-31), the config string following at byte 32:
/// <code>
///  24..25        26..27    28            29            30..31                32..
///  +-------------+---------+-------------+-------------+---------------------+---------------+
///  | buffer count| firmware| sectors/cmd | ver | ccmd  | config string length| config string |
///  +-------------+---------+-------------+-------------+---------------------+---------------+
/// </code>
/// Buffer count, firmware and sector count are meaningful in replies only: how many requests the
/// target queues, its version, and the most sectors one ATA command may carry.
/// </summary>
public readonly record struct ConfigHeader(ushort BufferCount, ushort FirmwareVersion, byte SectorCount, ConfigCommand Command, ushort StringLength)
{
    private const int Offset = AoeProtocol.HeaderLength;

    public static AoeFrameStatus TryRead(ReadOnlySpan<byte> frame, out ConfigHeader header)
    {
        header = default;
        if (frame.Length < AoeProtocol.ConfigStringOffset)
            return AoeFrameStatus.Truncated;
        ushort length = BinaryPrimitives.ReadUInt16BigEndian(frame[(Offset + 6)..]);
        if (length > AoeProtocol.MaxConfigStringLength)
            return AoeFrameStatus.BadConfigStringLength;
        if (frame.Length < AoeProtocol.ConfigStringOffset + length)
            return AoeFrameStatus.Truncated;
        header = new ConfigHeader(
            BinaryPrimitives.ReadUInt16BigEndian(frame[Offset..]),
            BinaryPrimitives.ReadUInt16BigEndian(frame[(Offset + 2)..]),
            frame[Offset + 4],
            (ConfigCommand)(frame[Offset + 5] & 0x0F),
            length);
        return AoeFrameStatus.Valid;
    }

    /// <summary>The config string of a frame whose header <see cref="TryRead"/> accepted.</summary>
    public ReadOnlySpan<byte> StringOf(ReadOnlySpan<byte> frame) => frame.Slice(AoeProtocol.ConfigStringOffset, StringLength);

    /// <summary>Write the header and <paramref name="configString"/>; returns the frame length so far.</summary>
    public int Write(Span<byte> frame, ReadOnlySpan<byte> configString)
    {
        BinaryPrimitives.WriteUInt16BigEndian(frame[Offset..], BufferCount);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(Offset + 2)..], FirmwareVersion);
        frame[Offset + 4] = SectorCount;
        frame[Offset + 5] = (byte)((AoeProtocol.Version << 4) | ((int)Command & 0x0F));
        BinaryPrimitives.WriteUInt16BigEndian(frame[(Offset + 6)..], (ushort)configString.Length);
        configString.CopyTo(frame[AoeProtocol.ConfigStringOffset..]);
        return AoeProtocol.ConfigStringOffset + configString.Length;
    }
}

public enum ConfigCommand : byte
{
    /// <summary>Reply with the config string.</summary>
    Read = 0,
    /// <summary>Reply only if the request's string equals the config string.</summary>
    Test = 1,
    /// <summary>Reply only if the request's string is a prefix of the config string.</summary>
    TestPrefix = 2,
    /// <summary>Set the config string if it is empty (or already equal); otherwise error ConfigStringPresent.</summary>
    Set = 3,
    /// <summary>Set the config string unconditionally.</summary>
    ForceSet = 4,
}
