using System.Buffers.Binary;
using System.Security.Cryptography;
using Bmcast.Core.Manifests;

namespace Bmcast.Images.Packs;

/// <summary>
/// A pack's index: every chunk in the pack, sorted by hash. Little-endian:
/// <code>
///   0     8   magic "BMCPIDX1"
///   8     4   u32 version (1)
///   12    4   u32 entry count N
///   16    8   u64 length of the pack file
///   24    1024  fan-out: 256 x u32, entry count with a first hash byte &lt;= i (the bucket of byte b is entries
///             fanout[b-1] .. fanout[b]: one ranged read finds it)
///   1048  N x 48  entries: hash (32), u64 offset in the pack, u32 length, u32 zero
///   end-32  32  SHA-256 of every byte before it
/// </code>
/// <see cref="Decode"/> trusts nothing: a damaged index is refused with the reason, never half-used.
/// </summary>
public sealed class PackIndex
{
    public const int FanoutOffset = 24;
    public const int EntriesOffset = FanoutOffset + 256 * 4;
    public const int EntrySize = 48;
    private const int ChecksumSize = 32;

    private PackIndex(PackEntry[] entries, long packLength)
    {
        Entries = entries;
        PackLength = packLength;
    }

    /// <summary>Sorted by hash, no hash twice.</summary>
    public IReadOnlyList<PackEntry> Entries { get; }

    /// <summary>The pack file's length when it was sealed: a shorter file has lost data.</summary>
    public long PackLength { get; }

    /// <summary>Bytes the pack's chunks take (each padded to the alignment), the header excluded.</summary>
    public long DataBytes => PackLength - PackFormat.HeaderSize;

    public static int EncodedLength(int entries) => EntriesOffset + entries * EntrySize + ChecksumSize;

    public static byte[] Encode(IEnumerable<PackEntry> entries, long packLength)
    {
        var sorted = entries.OrderBy(e => e.Key).ToArray();
        byte[] bytes = new byte[EncodedLength(sorted.Length)];
        var span = bytes.AsSpan();
        PackFormat.IndexMagic.CopyTo(span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], PackFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], checked((uint)sorted.Length));
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], (ulong)packLength);
        var fanout = new uint[256];
        foreach (var entry in sorted)
            fanout[entry.Key.FirstByte]++;
        uint running = 0;
        for (int b = 0; b < 256; b++)
            BinaryPrimitives.WriteUInt32LittleEndian(span[(FanoutOffset + b * 4)..], running += fanout[b]);
        for (int i = 0; i < sorted.Length; i++)
        {
            var slot = span.Slice(EntriesOffset + i * EntrySize, EntrySize);
            sorted[i].Key.WriteTo(slot);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[32..], (ulong)sorted[i].Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(slot[40..], (uint)sorted[i].Length);
        }
        SHA256.HashData(span[..^ChecksumSize], span[^ChecksumSize..]);
        return bytes;
    }

    /// <summary>Check and decode an index; throws <see cref="PackFormatException"/> naming what is wrong.</summary>
    public static PackIndex Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < EncodedLength(0))
            throw new PackFormatException($"index is {bytes.Length} bytes, shorter than an empty one");
        if (!bytes[..8].SequenceEqual(PackFormat.IndexMagic))
            throw new PackFormatException("index has no BMCPIDX1 magic");
        Span<byte> checksum = stackalloc byte[ChecksumSize];
        SHA256.HashData(bytes[..^ChecksumSize], checksum);
        if (!checksum.SequenceEqual(bytes[^ChecksumSize..]))
            throw new PackFormatException("index checksum does not match its content (damaged or cut short)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        if (version != PackFormat.Version)
            throw new PackFormatException($"index version {version} is not supported (this bmcast reads version {PackFormat.Version})");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]);
        if ((long)bytes.Length != EncodedLength(0) + (long)count * EntrySize)
            throw new PackFormatException($"index declares {count} entries but is {bytes.Length} bytes long");
        ulong packLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]);
        if (packLength < PackFormat.HeaderSize || packLength > long.MaxValue)
            throw new PackFormatException($"index declares an impossible pack length {packLength}");

        var entries = new PackEntry[count];
        for (int i = 0; i < entries.Length; i++)
        {
            var slot = bytes.Slice(EntriesOffset + i * EntrySize, EntrySize);
            var key = ChunkKey.From(slot[..Manifest.HashSize]);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(slot[32..]);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(slot[40..]);
            if (length is 0 or > Manifest.MaxChunkSize || offset < PackFormat.HeaderSize || offset % PackFormat.Alignment != 0
                || offset + length > packLength)
                throw new PackFormatException($"index entry {i} ({key}) lies outside the pack: offset {offset}, length {length}, pack {packLength} bytes");
            if (i > 0 && entries[i - 1].Key.CompareTo(key) >= 0)
                throw new PackFormatException($"index entries are not in strictly increasing hash order at entry {i}");
            entries[i] = new PackEntry(key, (long)offset, (int)length);
        }
        uint previous = 0;
        Span<uint> buckets = stackalloc uint[256];
        foreach (var entry in entries)
            buckets[entry.Key.FirstByte]++;
        for (int b = 0; b < 256; b++)
        {
            uint cumulative = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(FanoutOffset + b * 4)..]);
            if (cumulative != previous + buckets[b])
                throw new PackFormatException($"index fan-out disagrees with its entries at byte {b:x2}");
            previous = cumulative;
        }
        return new PackIndex(entries, (long)packLength);
    }
}
