using System.Buffers.Binary;
using System.Security.Cryptography;
using Bmcast.Vmm.Shared;
using CsCheck;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// The hypervisor's on-disk presence map (vmm/src/Shared/PresenceMapFormat.cs) against an independent reading of
/// its documented layout with the BCL (<see cref="OnDiskPresenceMap"/>, which tests also use to read a target disk).
/// </summary>
public sealed unsafe class PresenceMapFormatCrossCheckTests
{
    private static readonly Gen<(ulong Chunks, byte[] Map, ulong Sequence, byte[] Root)> Slots =
        from chunks in Gen.ULong[1, 5000]
        from map in Gen.Byte.Array[(int)((chunks + 7) / 8)]
        from sequence in Gen.ULong
        from root in Gen.Byte.Array[32]
        select (chunks, Masked(map, chunks), sequence, root);

    [Fact]
    public void What_the_hypervisor_encodes_the_independent_reader_decodes() =>
        Slots.Sample(s =>
        {
            byte[] slot = Encode(s.Chunks, s.Map, s.Sequence, s.Root);
            var read = OnDiskPresenceMap.TryRead(slot, (long)s.Chunks, 65536, s.Root);
            Assert.NotNull(read);
            Assert.Equal(s.Sequence, read.Value.Sequence);
            Assert.Equal(s.Map, read.Value.Map);
            Assert.True(Decode(slot, s.Chunks, s.Root, out ulong sequence));
            Assert.Equal(s.Sequence, sequence);
        }, iter: 300);

    [Fact]
    public void Any_flipped_bit_in_header_or_map_is_refused_by_both() =>
        Gen.Select(Slots, Gen.Int[0, int.MaxValue], Gen.Int[0, 7]).Sample((s, at, bit) =>
        {
            byte[] slot = Encode(s.Chunks, s.Map, s.Sequence, s.Root);
            int offset = at % (128 + s.Map.Length);   // the header's 128 used bytes, then the map
            offset = offset < 128 ? offset : (int)PresenceMapFormat.HeaderBytes + (offset - 128) % s.Map.Length;
            slot[offset] ^= (byte)(1 << bit);
            Assert.Null(OnDiskPresenceMap.TryRead(slot, (long)s.Chunks, 65536, s.Root));
            Assert.False(Decode(slot, s.Chunks, s.Root, out _));
        }, iter: 300);

    [Fact]
    public void Another_images_root_or_geometry_is_refused() =>
        Slots.Sample(s =>
        {
            byte[] slot = Encode(s.Chunks, s.Map, s.Sequence, s.Root);
            byte[] otherRoot = (byte[])s.Root.Clone();
            otherRoot[0] ^= 1;
            Assert.False(Decode(slot, s.Chunks, otherRoot, out _));
            Assert.False(Decode(slot, s.Chunks + 1, s.Root, out _));
            Assert.Null(OnDiskPresenceMap.TryRead(slot, (long)s.Chunks, 4096, s.Root));
        }, iter: 100);

    private static byte[] Masked(byte[] map, ulong chunks)
    {
        if (chunks % 8 != 0)
            map[^1] &= (byte)((1 << (int)(chunks % 8)) - 1);
        return map;
    }

    private static byte[] Encode(ulong chunks, byte[] map, ulong sequence, byte[] root)
    {
        var slot = new byte[PresenceMapFormat.SlotBytes(chunks)];
        fixed (byte* p = slot, m = map, r = root)
            PresenceMapFormat.Encode(p, m, chunks, 65536, sequence, r);
        return slot;
    }

    private static bool Decode(byte[] slot, ulong chunks, byte[] root, out ulong sequence)
    {
        fixed (byte* p = slot, r = root)
            return PresenceMapFormat.TryDecode(p, chunks, 65536, r, out sequence);
    }
}

/// <summary>
/// The presence map as vmm/README.md ("Streaming as built") documents it on the target disk, read with the BCL:
/// two slots in the hidden tail, each a 4 KiB header ("BMCPMAP1", version 1, chunk size, chunk count, sequence, image
/// root, SHA-256 of the map, SHA-256 of the header's first 96 bytes) and the map; the valid slot with the higher
/// sequence wins.
/// </summary>
public static class OnDiskPresenceMap
{
    public static (ulong Sequence, byte[] Map)? TryRead(ReadOnlySpan<byte> slot, long chunks, uint chunkSize, ReadOnlySpan<byte> root)
    {
        int mapBytes = (int)((chunks + 7) / 8);
        if (slot.Length < 4096 + mapBytes || !slot[..8].SequenceEqual("BMCPMAP1"u8))
            return null;
        if (!SHA256.HashData(slot[..96]).AsSpan().SequenceEqual(slot.Slice(96, 32)))
            return null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(slot[8..]) != 1 || BinaryPrimitives.ReadUInt32LittleEndian(slot[12..]) != chunkSize
            || BinaryPrimitives.ReadInt64LittleEndian(slot[16..]) != chunks || !slot.Slice(32, 32).SequenceEqual(root))
            return null;
        var map = slot.Slice(4096, mapBytes);
        if (!SHA256.HashData(map).AsSpan().SequenceEqual(slot.Slice(64, 32)))
            return null;
        return (BinaryPrimitives.ReadUInt64LittleEndian(slot[24..]), map.ToArray());
    }

    /// <summary>The newest valid map in a disk file whose hidden tail starts at <paramref name="tailOffset"/>, or null.</summary>
    public static (ulong Sequence, byte[] Map)? ReadDisk(string disk, long tailOffset, long chunks, uint chunkSize, byte[] root)
    {
        long slotBytes = 4096 + ((chunks + 7) / 8 + 4095) / 4096 * 4096;
        using var file = File.OpenRead(disk);
        (ulong Sequence, byte[] Map)? best = null;
        for (int s = 0; s < 2; s++)
        {
            var slot = new byte[slotBytes];
            file.Position = tailOffset + s * slotBytes;
            file.ReadExactly(slot);
            if (TryRead(slot, chunks, chunkSize, root) is { } read && (best is null || read.Sequence > best.Value.Sequence))
                best = read;
        }
        return best;
    }
}
