namespace Bmcast.Images.Packs;

/// <summary>
/// The on-disk format of packs (see docs/images.md, "Packs"). A pack is <c>packs/pack-ID.pack</c>: one 4 KiB header
/// page (magic <c>BMCPACK1</c>, u32 version, zeros), then chunk bytes, each chunk starting on a 4 KiB boundary (only a
/// short last chunk of an image needs padding: chunk sizes are powers of two from 4 KiB). Its index is
/// <c>packs/pack-ID.idx</c> (<see cref="PackIndex"/>); a pack without its index is not part of the store. Both are
/// written once and never changed: an object store can hold them as objects, and a reader can fetch the index's
/// header and fan-out with one ranged read and the entries of one fan-out bucket with another.
/// </summary>
internal static class PackFormat
{
    public static ReadOnlySpan<byte> PackMagic => "BMCPACK1"u8;
    public static ReadOnlySpan<byte> IndexMagic => "BMCPIDX1"u8;
    public const uint Version = 1;

    /// <summary>The header page; chunk data starts here.</summary>
    public const int HeaderSize = 4096;

    /// <summary>Every chunk starts on this boundary, so full chunks stay page-aligned in the file.</summary>
    public const int Alignment = 4096;

    public const string PackSuffix = ".pack";
    public const string IndexSuffix = ".idx";
    /// <summary>An index being written; renamed to <see cref="IndexSuffix"/> once durable.</summary>
    public const string PartialIndexSuffix = ".idx.new";
    public const string Prefix = "pack-";

    public static long Aligned(long length) => (length + Alignment - 1) & ~(long)(Alignment - 1);

    /// <summary>A new pack's id: creation time first, so newer packs sort after older ones, then randomness.</summary>
    public static string NewId() => $"{DateTime.UtcNow.Ticks:x16}-{Random.Shared.NextInt64():x16}";

    /// <summary>The id in a pack or index file name, or null for anything else in the directory.</summary>
    public static string? IdOf(string fileName, string suffix) =>
        fileName.StartsWith(Prefix, StringComparison.Ordinal) && fileName.EndsWith(suffix, StringComparison.Ordinal)
            && fileName.Length > Prefix.Length + suffix.Length
            ? fileName[Prefix.Length..^suffix.Length]
            : null;

    public static string PackPath(string directory, string id) => Path.Combine(directory, Prefix + id + PackSuffix);

    public static string IndexPath(string directory, string id) => Path.Combine(directory, Prefix + id + IndexSuffix);
}
