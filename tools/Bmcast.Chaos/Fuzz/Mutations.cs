using System.Buffers.Binary;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// Ways to damage a valid message: cut it, extend it, flip bits, overwrite bytes, or plant a boundary value
/// where a length or count may sit. Deliberately dumb about the format: the targets' seeds carry the structure.
/// </summary>
public static class Mutations
{
    /// <summary>Lengths and counts that catch off-by-ones, sign mistakes and allocations sized by the peer.</summary>
    private static readonly uint[] Boundaries = [0, 1, 0x7F, 0xFF, 0x1000, 0xFFFF, 0x10000, 0x1FFFFFF, 0x2000001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF];

    public static byte[] Noise(Random random, int maxLength)
    {
        var bytes = new byte[random.Next(maxLength + 1)];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>
    /// One random damage to <paramref name="seed"/>; byte-level changes land in <paramref name="hot"/> (the
    /// headers, say) when given. The result is at most <paramref name="maxLength"/> bytes.
    /// </summary>
    public static byte[] Mutate(ReadOnlySpan<byte> seed, Random random, int maxLength, Range? hot = null)
    {
        if (seed.Length == 0)
            return Noise(random, maxLength);
        var (start, length) = (hot ?? Range.All).GetOffsetAndLength(seed.Length);
        switch (random.Next(7))
        {
            case 0:
                return Noise(random, maxLength);
            case 1:
                return seed[..random.Next(seed.Length)].ToArray();
            case 2:
                var longer = new byte[random.Next(seed.Length, Math.Max(seed.Length, maxLength) + 1)];
                seed.CopyTo(longer);
                random.NextBytes(longer.AsSpan(seed.Length));
                return longer;
            case 3:
                var flipped = seed.ToArray();
                for (int i = random.Next(1, 5); i > 0; i--)
                    flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
                return flipped;
            case 4:
                var changed = seed.ToArray();
                for (int i = random.Next(1, 4); i > 0; i--)
                    changed[start + random.Next(length)] = (byte)random.Next(256);
                return changed;
            default:
                var planted = seed.ToArray();
                if (length >= 4)
                    PlantBoundary(planted.AsSpan(start + random.Next(length - 3)), random);
                return planted[..random.Next(planted.Length / 2, planted.Length + 1)];
        }
    }

    /// <summary>A boundary value (or a neighbour) in either byte order at the start of <paramref name="field"/>.</summary>
    public static void PlantBoundary(Span<byte> field, Random random)
    {
        uint value = Boundaries[random.Next(Boundaries.Length)] + (uint)random.Next(-1, 2);
        if (random.Next(2) == 0)
            BinaryPrimitives.WriteUInt32BigEndian(field, value);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(field, value);
    }
}
