using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// Which chunks of the image the local disk already holds in their final
// form (present: fetched and verified, zero-filled, or wholly the guest's),
// and which of those the guest has written since: two bitmaps, bit c of
// byte c / 8 for chunk c, in reserved memory sized from the manifest.
internal static unsafe class ChunkMap
{
    private static byte* s_present, s_written;
    private static ulong s_chunks, s_presentCount, s_bytes;

    public static ulong PagesFor(ulong chunks) => 2 * ReservedMemory.PagesFor((chunks + 7) / 8);

    public static void Place(byte* pages, ulong chunks)
    {
        s_chunks = chunks;
        s_bytes = (chunks + 7) / 8;
        s_present = pages;
        s_written = pages + ReservedMemory.PagesFor(s_bytes) * ReservedMemory.PageSize;
    }

    public static ulong Chunks => s_chunks;
    public static byte* PresentBits => s_present;
    // Chunks became present since the map was last committed.
    public static bool Dirty;
    public static ulong PresentCount => s_presentCount;

    public static bool IsPresent(ulong chunk) => (s_present[chunk >> 3] >> (int)(chunk & 7) & 1) != 0;

    public static void MarkPresent(ulong chunk)
    {
        if (IsPresent(chunk))
            return;
        s_present[chunk >> 3] |= (byte)(1 << (int)(chunk & 7));
        s_presentCount++;
        Dirty = true;
    }

    // A claimed chunk whose write failed or was cut off by a reset: the image's bytes again, fetched when needed.
    public static void MarkAbsent(ulong chunk)
    {
        if (!IsPresent(chunk))
            return;
        s_present[chunk >> 3] &= (byte)~(1 << (int)(chunk & 7));
        s_presentCount--;
    }

    // The first absent chunk at or after from, wrapping around; Chunks if every chunk is present.
    public static ulong NextAbsent(ulong from)
    {
        if (s_presentCount == s_chunks)
            return s_chunks;
        for (ulong i = 0, c = from % s_chunks; i < s_chunks; i++, c = c + 1 == s_chunks ? 0 : c + 1)
        {
            if ((c & 7) == 0 && s_present[c >> 3] == 0xFF && c + 8 <= s_chunks)
            {
                i += 7;
                c += 7;
                continue;
            }
            if (!IsPresent(c))
                return c;
        }
        return s_chunks;
    }

    // Adds a map read back from disk (same layout) to what is present.
    public static void Merge(byte* bits)
    {
        for (ulong i = 0; i < s_bytes; i++)
            s_present[i] |= bits[i];
        s_presentCount = 0;
        for (ulong c = 0; c < s_chunks; c++)
            s_presentCount += IsPresent(c) ? 1UL : 0UL;
    }

    public static void MarkWritten(ulong chunk) => s_written[chunk >> 3] |= (byte)(1 << (int)(chunk & 7));

    // Both maps as hex (byte 0 first), for the report at power-off.
    public static void WriteHex(bool written)
    {
        byte* map = written ? s_written : s_present;
        for (ulong i = 0; i < s_bytes; i++)
        {
            Serial.Write(HexDigit(map[i] >> 4));
            Serial.Write(HexDigit(map[i] & 15));
        }
    }

    private static char HexDigit(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
}
