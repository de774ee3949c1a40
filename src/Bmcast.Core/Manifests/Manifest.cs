using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Bmcast.Core.Manifests;

/// <summary>
/// What an image is, chunk by chunk: its size, chunk size, which chunks are all zero, and the SHA-256
/// of every other chunk; sealed by a root hash that the image store signs with ECDSA P-256.
///
/// Encoding (little-endian), designed so a sparse 1 TiB image costs megabytes, not half a gigabyte:
/// <code>
///   0  "BMCMAN01"           magic
///   8  u32 version = 1
///  12  u32 chunk size       power of two, 4 KiB .. 16 MiB
///  16  u64 image size
///  24  u64 chunk count      = ceil(image size / chunk size)
///  32  zero bitmap          ceil(chunk count / 8) bytes; bit i set = chunk i is all zero
///  ..  hashes               32 bytes for each non-zero chunk, in chunk order
///  ..  root hash            SHA-256 of every byte above
///  ..  u16 n, signature     ECDSA P-256 over the root hash, IEEE P1363 (r || s)
///  ..  u16 n, public key    SubjectPublicKeyInfo DER of the signing key
/// </code>
/// </summary>
public sealed class Manifest
{
    public const int HashSize = 32;
    public const int MinChunkSize = 4096;
    public const int MaxChunkSize = 16 << 20;
    public const long MaxImageSize = 1L << 50;
    private const int HeaderSize = 32;
    private const uint Version = 1;
    /// <summary>The first bytes of every encoded manifest.</summary>
    public static ReadOnlySpan<byte> Magic => "BMCMAN01"u8;

    private readonly ulong[] _zeroBitmap;
    private readonly int[] _nonZeroBeforeWord;
    private readonly byte[] _hashes;

    private Manifest(long imageSize, int chunkSize, ulong[] zeroBitmap, byte[] hashes, byte[] rootHash, byte[] signature, byte[] publicKey)
    {
        ImageSize = imageSize;
        ChunkSize = chunkSize;
        ChunkCount = ChunkCountFor(imageSize, chunkSize);
        _zeroBitmap = zeroBitmap;
        _hashes = hashes;
        RootHash = rootHash;
        Signature = signature;
        PublicKey = publicKey;
        _nonZeroBeforeWord = new int[zeroBitmap.Length];
        int running = 0;
        for (int w = 0; w < zeroBitmap.Length; w++)
        {
            _nonZeroBeforeWord[w] = running;
            running += 64 - BitOperations.PopCount(zeroBitmap[w]) - PaddingBitsInWord(w);
        }
        NonZeroChunkCount = running;
    }

    public long ImageSize { get; }
    public int ChunkSize { get; }
    public long ChunkCount { get; }
    public long NonZeroChunkCount { get; }
    public byte[] RootHash { get; }
    public byte[] Signature { get; }
    /// <summary>SubjectPublicKeyInfo DER of the key that signed this manifest.</summary>
    public byte[] PublicKey { get; }

    public string RootHashHex => Convert.ToHexStringLower(RootHash);

    /// <summary>Bytes of chunk <paramref name="chunk"/> (the last chunk may be short).</summary>
    public int ChunkLength(long chunk) => (int)Math.Min(ChunkSize, ImageSize - chunk * ChunkSize);

    public bool IsZeroChunk(long chunk) => (_zeroBitmap[chunk >> 6] & (1UL << (int)(chunk & 63))) != 0;

    /// <summary>SHA-256 of a non-zero chunk.</summary>
    public ReadOnlySpan<byte> ChunkHash(long chunk)
    {
        if (IsZeroChunk(chunk))
            throw new InvalidOperationException($"chunk {chunk} is a zero chunk and has no stored hash");
        int word = (int)(chunk >> 6);
        ulong below = (1UL << (int)(chunk & 63)) - 1;
        int index = _nonZeroBeforeWord[word] + BitOperations.PopCount(~_zeroBitmap[word] & below);
        return _hashes.AsSpan(index * HashSize, HashSize);
    }

    /// <summary>True when <paramref name="data"/> is exactly the content of chunk <paramref name="chunk"/>.</summary>
    public bool Matches(long chunk, ReadOnlySpan<byte> data)
    {
        if (data.Length != ChunkLength(chunk))
            return false;
        if (IsZeroChunk(chunk))
            return !data.ContainsAnyExcept((byte)0);
        Span<byte> actual = stackalloc byte[HashSize];
        SHA256.HashData(data, actual);
        return CryptographicOperations.FixedTimeEquals(actual, ChunkHash(chunk));
    }

    /// <summary>True when the signature is valid for the embedded public key, and the key is encoded canonically.</summary>
    public bool HasValidSignature()
    {
        using var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(PublicKey, out _);
            // The import tolerates some damage (a nonzero unused-bits count in the key's BIT STRING, found by
            // bmcast chaos fuzz): one key would then have several fingerprints, so only its canonical form counts.
            return key.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(PublicKey) && key.VerifyHash(RootHash, Signature);
        }
        // OpenSSL reports a well-formed key whose point is not on the curve as PlatformNotSupported.
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            return false;
        }
    }

    /// <summary>SHA-256 fingerprint of the signing key, the value operators pin (hex).</summary>
    public string KeyFingerprint => KeyFingerprintOf(PublicKey);

    public static string KeyFingerprintOf(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    public static long ChunkCountFor(long imageSize, int chunkSize) => (imageSize + chunkSize - 1) / chunkSize;

    /// <summary>
    /// Build and sign a manifest. <paramref name="chunkHashes"/> holds one 32-byte entry per chunk;
    /// <paramref name="zeroChunks"/> marks the all-zero chunks, whose hash entries are ignored.
    /// </summary>
    public static Manifest Create(long imageSize, int chunkSize, ReadOnlySpan<bool> zeroChunks, ReadOnlySpan<byte> chunkHashes, ECDsa signingKey)
    {
        ValidateGeometry(imageSize, chunkSize);
        long count = ChunkCountFor(imageSize, chunkSize);
        if (zeroChunks.Length != count || chunkHashes.Length != count * HashSize)
            throw new ArgumentException($"expected {count} chunk entries");
        var bitmap = new ulong[(count + 63) / 64];
        var packed = new byte[(count - CountTrue(zeroChunks)) * HashSize];
        int next = 0;
        for (long i = 0; i < count; i++)
        {
            if (zeroChunks[(int)i])
            {
                bitmap[i >> 6] |= 1UL << (int)(i & 63);
                continue;
            }
            chunkHashes.Slice((int)i * HashSize, HashSize).CopyTo(packed.AsSpan(next));
            next += HashSize;
        }
        byte[] body = EncodeBody(imageSize, chunkSize, bitmap, packed);
        byte[] root = SHA256.HashData(body);
        byte[] signature = signingKey.SignHash(root);
        byte[] publicKey = signingKey.ExportSubjectPublicKeyInfo();
        return new Manifest(imageSize, chunkSize, bitmap, packed, root, signature, publicKey);
    }

    public byte[] Encode()
    {
        byte[] body = EncodeBody(ImageSize, ChunkSize, _zeroBitmap, _hashes);
        var output = new byte[body.Length + HashSize + 2 + Signature.Length + 2 + PublicKey.Length];
        var span = output.AsSpan();
        body.CopyTo(span);
        span = span[body.Length..];
        RootHash.CopyTo(span);
        span = span[HashSize..];
        WriteBlob(ref span, Signature);
        WriteBlob(ref span, PublicKey);
        return output;
    }

    /// <summary>
    /// Parse and check an encoded manifest: structure, limits and root hash. The signature is
    /// checked separately (<see cref="HasValidSignature"/>) because trusting the key is policy.
    /// </summary>
    public static Manifest Decode(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length < HeaderSize || !encoded[..8].SequenceEqual(Magic))
            throw new ManifestFormatException("not a bmcast manifest (bad magic)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(encoded[8..]);
        if (version != Version)
            throw new ManifestFormatException($"unsupported manifest version {version}");
        uint chunkSize = BinaryPrimitives.ReadUInt32LittleEndian(encoded[12..]);
        ulong imageSize = BinaryPrimitives.ReadUInt64LittleEndian(encoded[16..]);
        ulong chunkCount = BinaryPrimitives.ReadUInt64LittleEndian(encoded[24..]);
        if (chunkSize < MinChunkSize || chunkSize > MaxChunkSize || !BitOperations.IsPow2(chunkSize))
            throw new ManifestFormatException($"invalid chunk size {chunkSize}");
        if (imageSize == 0 || imageSize > MaxImageSize)
            throw new ManifestFormatException($"invalid image size {imageSize}");
        if (chunkCount != (ulong)ChunkCountFor((long)imageSize, (int)chunkSize))
            throw new ManifestFormatException("chunk count does not match image size");

        // Compare in 64 bits before narrowing: a declared size of up to 2^50 bytes would overflow an
        // int here and must be rejected as truncated, not allocated.
        var rest = encoded[HeaderSize..];
        if ((ulong)rest.Length < (chunkCount + 7) / 8)
            throw new ManifestFormatException("truncated zero-chunk bitmap");
        int words = (int)((chunkCount + 63) / 64);
        int bitmapBytes = (int)((chunkCount + 7) / 8);
        var bitmap = new ulong[words];
        var bitmapBytesSpan = System.Runtime.InteropServices.MemoryMarshal.AsBytes(bitmap.AsSpan());
        rest[..bitmapBytes].CopyTo(bitmapBytesSpan);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("big-endian hosts are not supported");
        ulong padding = PaddingMask(chunkCount);
        if ((bitmap[^1] & padding) != 0)
            throw new ManifestFormatException("zero-chunk bitmap has bits set past the last chunk");
        rest = rest[bitmapBytes..];

        long zeroCount = 0;
        foreach (ulong w in bitmap)
            zeroCount += BitOperations.PopCount(w);
        long hashBytes = ((long)chunkCount - zeroCount) * HashSize;
        if (rest.Length < hashBytes + HashSize)
            throw new ManifestFormatException("truncated chunk hashes");
        byte[] hashes = rest[..(int)hashBytes].ToArray();
        int bodyLength = HeaderSize + bitmapBytes + (int)hashBytes;
        byte[] root = rest.Slice((int)hashBytes, HashSize).ToArray();
        if (!SHA256.HashData(encoded[..bodyLength]).AsSpan().SequenceEqual(root))
            throw new ManifestFormatException("root hash does not match manifest content");
        rest = rest[((int)hashBytes + HashSize)..];
        byte[] signature = ReadBlob(ref rest, "signature");
        byte[] publicKey = ReadBlob(ref rest, "public key");
        if (!rest.IsEmpty)
            throw new ManifestFormatException($"{rest.Length} trailing bytes after manifest");
        return new Manifest((long)imageSize, (int)chunkSize, bitmap, hashes, root, signature, publicKey);
    }

    private static void ValidateGeometry(long imageSize, int chunkSize)
    {
        if (chunkSize < MinChunkSize || chunkSize > MaxChunkSize || !BitOperations.IsPow2(chunkSize))
            throw new ArgumentOutOfRangeException(nameof(chunkSize), $"chunk size must be a power of two between {MinChunkSize} and {MaxChunkSize}");
        if (imageSize <= 0 || imageSize > MaxImageSize)
            throw new ArgumentOutOfRangeException(nameof(imageSize), $"image size must be between 1 and {MaxImageSize} bytes");
    }

    private static byte[] EncodeBody(long imageSize, int chunkSize, ulong[] bitmap, byte[] hashes)
    {
        long count = ChunkCountFor(imageSize, chunkSize);
        int bitmapBytes = (int)((count + 7) / 8);
        var body = new byte[HeaderSize + bitmapBytes + hashes.Length];
        Magic.CopyTo(body);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(12), (uint)chunkSize);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), (ulong)imageSize);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), (ulong)count);
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(bitmap.AsSpan())[..bitmapBytes].CopyTo(body.AsSpan(HeaderSize));
        hashes.CopyTo(body.AsSpan(HeaderSize + bitmapBytes));
        return body;
    }

    private static void WriteBlob(ref Span<byte> span, byte[] blob)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)blob.Length);
        blob.CopyTo(span[2..]);
        span = span[(2 + blob.Length)..];
    }

    private static byte[] ReadBlob(ref ReadOnlySpan<byte> span, string what)
    {
        if (span.Length < 2)
            throw new ManifestFormatException($"truncated {what}");
        int length = BinaryPrimitives.ReadUInt16LittleEndian(span);
        if (length == 0 || span.Length < 2 + length)
            throw new ManifestFormatException($"truncated {what}");
        byte[] blob = span.Slice(2, length).ToArray();
        span = span[(2 + length)..];
        return blob;
    }

    private static int CountTrue(ReadOnlySpan<bool> flags)
    {
        int n = 0;
        foreach (bool f in flags)
            if (f) n++;
        return n;
    }

    private int PaddingBitsInWord(int word) =>
        word == _zeroBitmap.Length - 1 ? BitOperations.PopCount(PaddingMask((ulong)ChunkCount)) : 0;

    private static ulong PaddingMask(ulong chunkCount)
    {
        int used = (int)(chunkCount & 63);
        return used == 0 ? 0 : ~0UL << used;
    }
}

/// <summary>An encoded manifest is malformed: truncated, inconsistent, or tampered with.</summary>
public sealed class ManifestFormatException(string message) : Exception(message);
