namespace Bmcast.Vmm.Shared;

// AoE frames (Coraid AoE r11) for the hypervisor's initiator, over raw
// pointers so the hypervisor's core library suffices; the test suite checks
// them byte for byte against Bmcast.Core.Aoe (AoeHeader, AtaHeader,
// ConfigHeader). Layout, from the Ethernet header's first byte:
//   0 dst MAC | 6 src MAC | 12 0x88A2 | 14 ver<<4|flags | 15 error | 16 major (BE)
//   | 18 minor | 19 command | 20 tag (BE) | 24 ATA header (12 bytes) or config
//   header (8 bytes) | 36 sector data (ATA) / 32 config string (config)
// A MAC is carried as a ulong holding its six bytes in wire order, first
// byte in the low bits.
internal static unsafe class AoeFrame
{
    public const ushort EtherType = 0x88A2;
    public const int HeaderLength = 24;
    public const int AtaHeaderLength = 12;
    public const int AtaDataOffset = HeaderLength + AtaHeaderLength;
    public const int ConfigStringOffset = 32;
    public const int MinimumFrameLength = 60;
    public const int SectorSize = 512;

    public const byte FlagResponse = 0x08, FlagError = 0x04;
    public const byte CommandAta = 0, CommandQueryConfig = 1;
    public const byte AtaFlagExtended = 0x40;
    public const byte AtaIdentify = 0xEC, AtaReadExt = 0x24;
    public const byte AtaStatusError = 0x01, AtaStatusDeviceFault = 0x20;
    public const ulong BroadcastMac = 0xFFFF_FFFF_FFFF;

    public static void WriteMac(byte* p, ulong mac)
    {
        for (int i = 0; i < 6; i++)
            p[i] = (byte)(mac >> (8 * i));
    }

    public static ulong ReadMac(byte* p)
    {
        ulong mac = 0;
        for (int i = 0; i < 6; i++)
            mac |= (ulong)p[i] << (8 * i);
        return mac;
    }

    // Bytes 0-23. Requests carry flags 0.
    public static void WriteHeader(byte* frame, ulong destination, ulong source, byte flags, byte error, ushort major, byte minor, byte command, uint tag)
    {
        WriteMac(frame, destination);
        WriteMac(frame + 6, source);
        frame[12] = EtherType >> 8;
        frame[13] = EtherType & 0xFF;
        frame[14] = (byte)(0x10 | (flags & 0x0F));
        frame[15] = error;
        frame[16] = (byte)(major >> 8);
        frame[17] = (byte)major;
        frame[18] = minor;
        frame[19] = command;
        WriteBigEndian32(frame + 20, tag);
    }

    // Bytes 24-35: flags, feature, sector count, command, LBA low byte first, 2 reserved.
    public static void WriteAta(byte* frame, byte flags, byte feature, byte sectorCount, byte command, ulong lba)
    {
        byte* ata = frame + HeaderLength;
        ata[0] = flags;
        ata[1] = feature;
        ata[2] = sectorCount;
        ata[3] = command;
        for (int i = 0; i < 6; i++)
            ata[4 + i] = (byte)(lba >> (8 * i));
        ata[10] = 0;
        ata[11] = 0;
    }

    // A Query Config "read" request (bytes 24-31, no string): every field zero.
    public static void WriteConfigQuery(byte* frame)
    {
        for (int i = HeaderLength; i < ConfigStringOffset; i++)
            frame[i] = 0;
        frame[HeaderLength + 5] = 0x10;   // AoE version 1, config command 0 (read)
    }

    // The fields of a received AoE frame. Parse checks only what makes the
    // frame an AoE version-1 frame; matching it to a request is the caller's.
    public struct Header
    {
        public ulong Destination, Source;
        public byte Flags, Error, Minor, Command;
        public ushort Major;
        public uint Tag;

        public bool IsResponse => (Flags & FlagResponse) != 0;
        public bool IsError => (Flags & FlagError) != 0;
    }

    public static bool TryReadHeader(byte* frame, int length, out Header header)
    {
        header = default;
        if (length < HeaderLength || frame[12] != EtherType >> 8 || frame[13] != (EtherType & 0xFF) || frame[14] >> 4 != 1)
            return false;
        header.Destination = ReadMac(frame);
        header.Source = ReadMac(frame + 6);
        header.Flags = (byte)(frame[14] & 0x0F);
        header.Error = frame[15];
        header.Major = (ushort)(frame[16] << 8 | frame[17]);
        header.Minor = frame[18];
        header.Command = frame[19];
        header.Tag = ReadBigEndian32(frame + 20);
        return true;
    }

    // An ATA reply's status register (byte 27), or false when the frame is too short to hold the ATA header.
    public static bool TryReadAtaStatus(byte* frame, int length, out byte status)
    {
        status = 0;
        if (length < AtaDataOffset)
            return false;
        status = frame[HeaderLength + 3];
        return true;
    }

    // The config reply's sectors-per-command field (byte 28): how many sectors one ATA request may carry.
    public static bool TryReadConfigSectors(byte* frame, int length, out byte sectors)
    {
        sectors = 0;
        if (length < ConfigStringOffset)
            return false;
        sectors = frame[HeaderLength + 4];
        return true;
    }

    // Whole sectors per frame on a link with this MTU (the payload after the 14-byte Ethernet header): 2 at 1500, 17 at 9000.
    public static int SectorsPerFrame(int mtu) => mtu < AtaDataOffset - 14 ? 0 : (mtu - (AtaDataOffset - 14)) / SectorSize;

    // IDENTIFY DEVICE data's capacity: LBA48 (words 100-103) when bit 10 of
    // word 83 or 86 says so, else LBA28 (words 60-61).
    public static ulong IdentifySectors(byte* identify)
    {
        if (((identify[167] | identify[173]) & 0x04) != 0)
        {
            ulong lba48 = 0;
            for (int i = 5; i >= 0; i--)
                lba48 = lba48 << 8 | identify[200 + i];
            return lba48;
        }
        return (ulong)identify[120] | (ulong)identify[121] << 8 | (ulong)identify[122] << 16 | (ulong)identify[123] << 24;
    }

    private static void WriteBigEndian32(byte* p, uint value)
    {
        p[0] = (byte)(value >> 24);
        p[1] = (byte)(value >> 16);
        p[2] = (byte)(value >> 8);
        p[3] = (byte)value;
    }

    private static uint ReadBigEndian32(byte* p) => (uint)p[0] << 24 | (uint)p[1] << 16 | (uint)p[2] << 8 | p[3];
}
