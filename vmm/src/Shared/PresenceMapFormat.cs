namespace Bmcast.Vmm.Shared;

// The presence map as the hypervisor keeps it on the target disk, in the
// namespace's hidden tail: two slots, written alternately, so that a power
// cut during one commit leaves the other intact. Offsets are bytes from the
// tail's start (independent of the logical block size); a slot is one
// 4 KiB header then the map, rounded up to 4 KiB:
//   slot s at s * SlotBytes(chunks)
//   header: magic "BMCPMAP1" (8), version u32 = 1, chunk size u32, chunk
//     count u64, sequence u64 (the newer valid slot wins), image root (32:
//     the manifest's, so a map is never applied to another image), SHA-256
//     of the map (32), SHA-256 of the header's first 96 bytes (32); zeros
//     to 4 KiB
//   map: bit c mod 8 of byte c / 8 set = chunk c present (durable)
// Compiled by the hypervisor and by the test suite, which reads the map off
// the disk file and checks this code against its own reading
// (PresenceMapFormatCrossCheckTests).
internal static unsafe class PresenceMapFormat
{
    public const ulong HeaderBytes = 4096;
    public const int Slots = 2;
    private const uint Version = 1;
    private const int RootOffset = 32, MapHashOffset = 64, HeaderHashOffset = 96, HashedHeaderBytes = 96;

    public static ulong MapBytes(ulong chunks) => (chunks + 7) / 8;

    public static ulong SlotBytes(ulong chunks) => HeaderBytes + (MapBytes(chunks) + 4095) / 4096 * 4096;

    // Fills slot (SlotBytes, zeroed by the caller past the map) with a header for map.
    public static void Encode(byte* slot, byte* map, ulong chunks, uint chunkSize, ulong sequence, byte* imageRoot)
    {
        byte* magic = slot;
        magic[0] = (byte)'B'; magic[1] = (byte)'M'; magic[2] = (byte)'C'; magic[3] = (byte)'P';
        magic[4] = (byte)'M'; magic[5] = (byte)'A'; magic[6] = (byte)'P'; magic[7] = (byte)'1';
        Write(slot + 8, Version, 4);
        Write(slot + 12, chunkSize, 4);
        Write(slot + 16, chunks, 8);
        Write(slot + 24, sequence, 8);
        for (int i = 0; i < Sha256.HashSize; i++)
            slot[RootOffset + i] = imageRoot[i];
        ulong bytes = MapBytes(chunks);
        for (ulong i = 0; i < bytes; i++)
            slot[HeaderBytes + i] = map[i];
        Sha256.Hash(slot + HeaderBytes, bytes, slot + MapHashOffset);
        Sha256.Hash(slot, HashedHeaderBytes, slot + HeaderHashOffset);
    }

    // Whether slot holds a consistent map for this image (chunk count and size,
    // root); its sequence if so. The map itself is at slot + HeaderBytes.
    public static bool TryDecode(byte* slot, ulong chunks, uint chunkSize, byte* imageRoot, out ulong sequence)
    {
        sequence = 0;
        byte* hash = stackalloc byte[Sha256.HashSize];
        if (slot[0] != 'B' || slot[1] != 'M' || slot[2] != 'C' || slot[3] != 'P' || slot[4] != 'M' || slot[5] != 'A' || slot[6] != 'P' || slot[7] != '1')
            return false;
        Sha256.Hash(slot, HashedHeaderBytes, hash);
        if (!Equal(hash, slot + HeaderHashOffset))
            return false;
        if (Read(slot + 8, 4) != Version || Read(slot + 12, 4) != chunkSize || Read(slot + 16, 8) != chunks || !Equal(slot + RootOffset, imageRoot))
            return false;
        Sha256.Hash(slot + HeaderBytes, MapBytes(chunks), hash);
        if (!Equal(hash, slot + MapHashOffset))
            return false;
        sequence = Read(slot + 24, 8);
        return true;
    }

    private static void Write(byte* p, ulong value, int bytes)
    {
        for (int i = 0; i < bytes; i++)
            p[i] = (byte)(value >> (8 * i));
    }

    private static ulong Read(byte* p, int bytes)
    {
        ulong value = 0;
        for (int i = bytes - 1; i >= 0; i--)
            value = value << 8 | p[i];
        return value;
    }

    private static bool Equal(byte* a, byte* b)
    {
        int difference = 0;
        for (int i = 0; i < Sha256.HashSize; i++)
            difference |= a[i] ^ b[i];
        return difference == 0;
    }
}
