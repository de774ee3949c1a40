namespace Bmcast.Vmm.Shared;

// The framing of a companion device (Bmcast.Core.Aoe.CompanionFrame): a u64
// little-endian payload length, the payload (here a manifest, magic
// "BMCMAN01"), zeros to the end of the last sector. The first sector says
// everything a reader must check before reading the rest.
internal static unsafe class Companion
{
    public const int HeaderLength = 8;
    public const ulong MaxPayloadLength = 1UL << 30;   // as CompanionFrame.MaxPayloadLength

    // The manifest's length, if the first sector frames one that fits a device of deviceBytes.
    public static bool TryReadManifestLength(byte* firstSector, ulong deviceBytes, out ulong length)
    {
        length = 0;
        ulong declared = 0;
        for (int i = 7; i >= 0; i--)
            declared = declared << 8 | firstSector[i];
        if (!ManifestView.HasMagic(firstSector + HeaderLength))
            return false;
        if (declared < 8 || declared > MaxPayloadLength || deviceBytes < HeaderLength || declared > deviceBytes - HeaderLength)
            return false;
        length = declared;
        return true;
    }
}
