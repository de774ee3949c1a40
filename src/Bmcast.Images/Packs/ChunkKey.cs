using System.Buffers.Binary;
using Bmcast.Core.Manifests;

namespace Bmcast.Images.Packs;

/// <summary>
/// A chunk's SHA-256 as a value: a dictionary key that is compared and hashed without allocating, so the store's
/// read path can find a chunk from the manifest's hash span alone.
/// </summary>
public readonly struct ChunkKey : IEquatable<ChunkKey>, IComparable<ChunkKey>
{
    private readonly ulong _a, _b, _c, _d; // big-endian words: ordinal order of the bytes

    private ChunkKey(ulong a, ulong b, ulong c, ulong d) => (_a, _b, _c, _d) = (a, b, c, d);

    public static ChunkKey From(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != Manifest.HashSize)
            throw new ArgumentException($"a chunk hash has {Manifest.HashSize} bytes, not {hash.Length}", nameof(hash));
        return new ChunkKey(BinaryPrimitives.ReadUInt64BigEndian(hash), BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[16..]), BinaryPrimitives.ReadUInt64BigEndian(hash[24..]));
    }

    /// <summary>The key of a chunk named by 64 hex digits (the old one-file-per-chunk layout); false for any other name.</summary>
    public static bool TryParseHex(string hex, out ChunkKey key)
    {
        Span<byte> hash = stackalloc byte[Manifest.HashSize];
        key = default;
        if (hex.Length != 2 * Manifest.HashSize || Convert.FromHexString(hex, hash, out _, out int written) != System.Buffers.OperationStatus.Done
            || written != Manifest.HashSize || hex.AsSpan().ContainsAnyInRange('A', 'F'))
            return false;
        key = From(hash);
        return true;
    }

    /// <summary>The first byte, which selects the index's fan-out bucket.</summary>
    public int FirstByte => (int)(_a >> 56);

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    public bool Equals(ChunkKey other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is ChunkKey other && Equals(other);

    // SHA-256 output is uniform: any word of it is as good a hash code as a mix of all four.
    public override int GetHashCode() => (int)_b;

    public int CompareTo(ChunkKey other)
    {
        int order = _a.CompareTo(other._a);
        if (order == 0) order = _b.CompareTo(other._b);
        if (order == 0) order = _c.CompareTo(other._c);
        return order != 0 ? order : _d.CompareTo(other._d);
    }

    public override string ToString()
    {
        Span<byte> hash = stackalloc byte[Manifest.HashSize];
        WriteTo(hash);
        return Convert.ToHexStringLower(hash);
    }

    public static bool operator ==(ChunkKey left, ChunkKey right) => left.Equals(right);

    public static bool operator !=(ChunkKey left, ChunkKey right) => !left.Equals(right);
}
