namespace Bmcast.Core.Aoe;

/// <summary>
/// The ATA header of an AoE ATA command (bytes 24-35), sector data following at byte 36:
/// <code>
///  24      25            26       27              28..33               34..35
///  +-------+-------------+--------+---------------+--------------------+--------+
///  | aflags| err/feature | sectors| cmd/status    | LBA, low byte first| reserved
///  +-------+-------------+--------+---------------+--------------------+--------+
/// </code>
/// In a request byte 25 is the feature and byte 27 the command; in a reply, the error and status registers.
/// </summary>
public readonly record struct AtaHeader(AtaFlags Flags, byte ErrorOrFeature, byte SectorCount, byte CommandOrStatus, ulong Lba)
{
    private const int Offset = AoeProtocol.HeaderLength;
    public const ulong MaxLba = (1UL << 48) - 1;

    public bool IsWrite => (Flags & AtaFlags.Write) != 0;

    /// <summary>The LBA as the device sees it: 48 bits with the extended flag, 28 otherwise.</summary>
    public ulong EffectiveLba => (Flags & AtaFlags.Extended) != 0 ? Lba : Lba & 0x0FFF_FFFF;

    public static AoeFrameStatus TryRead(ReadOnlySpan<byte> frame, out AtaHeader header)
    {
        header = default;
        if (frame.Length < AoeProtocol.AtaDataOffset)
            return AoeFrameStatus.Truncated;
        ulong lba = 0;
        for (int i = 5; i >= 0; i--)
            lba = (lba << 8) | frame[Offset + 4 + i];
        header = new AtaHeader((AtaFlags)frame[Offset], frame[Offset + 1], frame[Offset + 2], frame[Offset + 3], lba);
        return AoeFrameStatus.Valid;
    }

    public void Write(Span<byte> frame)
    {
        frame[Offset] = (byte)Flags;
        frame[Offset + 1] = ErrorOrFeature;
        frame[Offset + 2] = SectorCount;
        frame[Offset + 3] = CommandOrStatus;
        ulong lba = Lba;
        for (int i = 0; i < 6; i++, lba >>= 8)
            frame[Offset + 4 + i] = (byte)lba;
        frame[Offset + 10] = 0;
        frame[Offset + 11] = 0;
    }
}

[Flags]
public enum AtaFlags : byte
{
    None = 0,
    Write = 0x01,
    Asynchronous = 0x02,
    Device = 0x10,
    /// <summary>LBA48 ("extended") command.</summary>
    Extended = 0x40,
}

/// <summary>The ATA command, status and error register values AoE peers use.</summary>
public static class Ata
{
    public const byte ReadSectors = 0x20;
    public const byte ReadSectorsExt = 0x24;
    public const byte ReadDmaExt = 0x25;
    public const byte WriteSectors = 0x30;
    public const byte WriteSectorsExt = 0x34;
    public const byte WriteDmaExt = 0x35;
    public const byte ReadDma = 0xC8;
    public const byte WriteDma = 0xCA;
    public const byte CheckPowerMode = 0xE5;
    public const byte FlushCache = 0xE7;
    public const byte FlushCacheExt = 0xEA;
    public const byte IdentifyDevice = 0xEC;

    public const byte StatusError = 0x01;
    public const byte StatusDeviceFault = 0x20;
    public const byte StatusReady = 0x40;

    /// <summary>Error register: command aborted (unsupported, or a write to our read-only export).</summary>
    public const byte ErrorAborted = 0x04;
    /// <summary>Error register: ID not found (address beyond the device's capacity).</summary>
    public const byte ErrorIdNotFound = 0x10;

    public static bool IsRead(byte command) => command is ReadSectors or ReadSectorsExt or ReadDmaExt or ReadDma;

    public static bool IsWrite(byte command) => command is WriteSectors or WriteSectorsExt or WriteDmaExt or WriteDma;
}
