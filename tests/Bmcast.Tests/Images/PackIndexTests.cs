using System.Security.Cryptography;
using Bmcast.Images.Packs;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>The pack index format: what is encoded decodes to the same entries, and any damage is refused.</summary>
public sealed class PackIndexTests
{
    private static List<PackEntry> Entries(int count) =>
        Enumerable.Range(0, count)
            .Select(i => new PackEntry(ChunkKey.From(SHA256.HashData(BitConverter.GetBytes(i))), PackFormat.HeaderSize + i * 65536L, 65536 - i))
            .ToList();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(300)]
    public void Entries_round_trip_sorted_by_hash(int count)
    {
        var entries = Entries(count);
        long packLength = PackFormat.HeaderSize + count * 65536L;

        var index = PackIndex.Decode(PackIndex.Encode(entries, packLength));

        Assert.Equal(packLength, index.PackLength);
        Assert.Equal(entries.OrderBy(e => e.Key), index.Entries);
        Assert.Equal(PackIndex.EncodedLength(count), PackIndex.Encode(entries, packLength).Length);
    }

    [Fact]
    public void The_fan_out_finds_each_first_byte_bucket_with_one_ranged_read()
    {
        var entries = Entries(300);
        byte[] bytes = PackIndex.Encode(entries, PackFormat.HeaderSize + 300 * 65536L);
        var sorted = entries.OrderBy(e => e.Key).ToList();
        for (int b = 0; b < 256; b++)
        {
            int start = b == 0 ? 0 : (int)BitConverter.ToUInt32(bytes, PackIndex.FanoutOffset + (b - 1) * 4);
            int end = (int)BitConverter.ToUInt32(bytes, PackIndex.FanoutOffset + b * 4);
            Assert.Equal(sorted.Where(e => e.Key.FirstByte == b), sorted.Skip(start).Take(end - start));
        }
    }

    [Fact]
    public void Any_flipped_byte_or_cut_is_refused()
    {
        byte[] good = PackIndex.Encode(Entries(3), PackFormat.HeaderSize + 3 * 65536L);
        for (int i = 0; i < good.Length; i++)
        {
            byte[] bad = (byte[])good.Clone();
            bad[i] ^= 0x10;
            Assert.Throws<PackFormatException>(() => PackIndex.Decode(bad));
        }
        Assert.Throws<PackFormatException>(() => PackIndex.Decode(good[..^1]));
        Assert.Throws<PackFormatException>(() => PackIndex.Decode(good[..100]));
    }

    [Fact]
    public void Entries_outside_the_pack_are_refused_even_when_checksummed()
    {
        var entries = Entries(2);
        var error = Assert.Throws<PackFormatException>(() => PackIndex.Decode(PackIndex.Encode(entries, PackFormat.HeaderSize + 65536L)));
        Assert.Contains("outside the pack", error.Message);
        var unaligned = entries.Select(e => e with { Offset = e.Offset + 1 });
        Assert.Throws<PackFormatException>(() => PackIndex.Decode(PackIndex.Encode(unaligned, PackFormat.HeaderSize + 3 * 65536L)));
    }
}
