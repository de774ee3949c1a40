namespace Bmcast.Core.Aoe;

/// <summary>
/// Constants of ATA over Ethernet (Coraid AoE specification r11). Every AoE frame is one Ethernet
/// frame; offsets below count from the first byte of the Ethernet header:
/// <code>
///  0      6      12    14        15     16     18     19       20     24
///  +------+------+-----+---------+------+------+------+--------+------+----------------------+
///  | dst  | src  |88A2 |ver|flags| err  | major| minor| command| tag  | ATA or config header |
///  +------+------+-----+---------+------+------+------+--------+------+----------------------+
/// </code>
/// </summary>
public static class AoeProtocol
{
    public const ushort EtherType = 0x88A2;
    public const int Version = 1;

    public const int EthernetHeaderLength = 14;
    public const int HeaderLength = 24;
    /// <summary>Where sector data starts in an ATA frame (AoE header plus the 12-byte ATA header).</summary>
    public const int AtaDataOffset = 36;
    /// <summary>Where the config string starts in a config frame (AoE header plus 8 bytes).</summary>
    public const int ConfigStringOffset = 32;
    public const int MaxConfigStringLength = 1024;

    /// <summary>Shortest Ethernet frame without its FCS; shorter replies are padded (aoeping drops them otherwise).</summary>
    public const int MinimumFrameLength = 60;

    public const int SectorSize = 512;

    public const ushort BroadcastMajor = 0xFFFF;
    public const byte BroadcastMinor = 0xFF;

    /// <summary>Whole sectors one frame carries on a link with this MTU: 2 at 1500, 17 at 9000.</summary>
    public static int SectorsPerFrame(int mtu) =>
        Math.Max(0, (mtu - (AtaDataOffset - EthernetHeaderLength)) / SectorSize);

    /// <summary>Whether a request addressed to major.minor is meant for the target at shelf.slot (0xFFFF/0xFF are wildcards).</summary>
    public static bool Addresses(ushort major, byte minor, ushort shelf, byte slot) =>
        (major == shelf || major == BroadcastMajor) && (minor == slot || minor == BroadcastMinor);
}
