namespace Bmcast.Vmm.Shared;

// A read-only view of an encoded bmcast manifest (the format of
// Bmcast.Core.Manifests.Manifest, whose comment has the layout), over the
// bytes as received: nothing is copied. The hypervisor cannot check the
// ECDSA signature; its trust anchor is a root hash pinned in its
// configuration, the same root `bmcast image inspect` prints: SHA-256 of
// every byte before the root (header, zero bitmap, chunk hashes). The
// signature and key blobs after the root are not read. The test suite checks
// this view against Manifest.Encode (ManifestViewCrossCheckTests).
internal unsafe struct ManifestView
{
    public const int HashSize = 32;
    private const int HeaderLength = 32;
    private const uint MinChunkSize = 4096, MaxChunkSize = 16 << 20;
    private const ulong MaxImageSize = 1UL << 50;

    private byte* _zeroBitmap;
    private byte* _hashes;

    public uint ChunkSize;
    public ulong ImageSize;
    public ulong ChunkCount;
    public ulong ZeroChunkCount;
    public byte* Bytes;
    // What the root hash covers; the root follows at Bytes + BodyLength.
    public ulong BodyLength;

    public byte* EmbeddedRoot => Bytes + BodyLength;

    public static ManifestStatus TryParse(byte* bytes, ulong length, out ManifestView view)
    {
        view = default;
        if (length < HeaderLength || !HasMagic(bytes))
            return ManifestStatus.BadMagic;
        if (ReadLittleEndian(bytes + 8, 4) != 1)
            return ManifestStatus.BadVersion;
        ulong chunkSize = ReadLittleEndian(bytes + 12, 4);
        ulong imageSize = ReadLittleEndian(bytes + 16, 8);
        ulong chunkCount = ReadLittleEndian(bytes + 24, 8);
        if (chunkSize < MinChunkSize || chunkSize > MaxChunkSize || (chunkSize & (chunkSize - 1)) != 0)
            return ManifestStatus.BadChunkSize;
        if (imageSize == 0 || imageSize > MaxImageSize)
            return ManifestStatus.BadImageSize;
        if (chunkCount != (imageSize + chunkSize - 1) / chunkSize)
            return ManifestStatus.BadChunkCount;
        ulong bitmapBytes = (chunkCount + 7) / 8;
        if (length - HeaderLength < bitmapBytes)
            return ManifestStatus.Truncated;
        byte* bitmap = bytes + HeaderLength;
        if ((chunkCount & 7) != 0 && (bitmap[bitmapBytes - 1] >> (int)(chunkCount & 7)) != 0)
            return ManifestStatus.BitmapPadding;
        ulong zeros = 0;
        for (ulong i = 0; i < bitmapBytes; i++)
            zeros += PopCount(bitmap[i]);
        ulong body = HeaderLength + bitmapBytes + (chunkCount - zeros) * HashSize;
        if (length < body + HashSize)
            return ManifestStatus.Truncated;
        view.ChunkSize = (uint)chunkSize;
        view.ImageSize = imageSize;
        view.ChunkCount = chunkCount;
        view.ZeroChunkCount = zeros;
        view.Bytes = bytes;
        view.BodyLength = body;
        view._zeroBitmap = bitmap;
        view._hashes = bitmap + bitmapBytes;
        return ManifestStatus.Valid;
    }

    // Hashes the body and compares it with the embedded root and with the
    // pinned one: Valid, RootMismatch (the manifest contradicts itself) or
    // NotPinnedRoot (a consistent manifest, but not the one we trust).
    public ManifestStatus CheckRoot(byte* pinnedRoot)
    {
        byte* actual = stackalloc byte[HashSize];
        Sha256.Hash(Bytes, BodyLength, actual);
        if (!Equal(actual, EmbeddedRoot, HashSize))
            return ManifestStatus.RootMismatch;
        return Equal(actual, pinnedRoot, HashSize) ? ManifestStatus.Valid : ManifestStatus.NotPinnedRoot;
    }

    public bool IsZeroChunk(ulong chunk) => (_zeroBitmap[chunk >> 3] >> (int)(chunk & 7) & 1) != 0;

    public ulong ChunkLength(ulong chunk) => chunk == ChunkCount - 1 ? ImageSize - chunk * ChunkSize : ChunkSize;

    // The stored hash of a non-zero chunk: its rank among the non-zero chunks
    // (a scan of the bitmap).
    public byte* ChunkHash(ulong chunk)
    {
        ulong cursorByte = 0, cursorRank = 0;
        return ChunkHash(chunk, ref cursorByte, ref cursorRank);
    }

    // The same, scanning on from a cursor (the rank of the first chunk of
    // bitmap byte cursorByte) left by an earlier lookup at or before this
    // chunk, then moved here: chunks looked up in disk order cost one scan
    // in all, not one each (a 4 GiB image's bitmap is 8 KiB).
    public byte* ChunkHash(ulong chunk, ref ulong cursorByte, ref ulong cursorRank)
    {
        if (cursorByte > chunk >> 3)
        {
            cursorByte = 0;
            cursorRank = 0;
        }
        for (; cursorByte < chunk >> 3; cursorByte++)
            cursorRank += 8 - PopCount(_zeroBitmap[cursorByte]);
        ulong rank = cursorRank;
        for (ulong c = chunk & ~7UL; c < chunk; c++)
            rank += IsZeroChunk(c) ? 0UL : 1UL;
        return _hashes + rank * HashSize;
    }

    // Whether digest is the stored SHA-256 of non-zero chunk (ChunkHash's cursor).
    public bool HashMatches(ulong chunk, byte* digest, ref ulong cursorByte, ref ulong cursorRank) =>
        chunk < ChunkCount && !IsZeroChunk(chunk) && Equal(digest, ChunkHash(chunk, ref cursorByte, ref cursorRank), HashSize);

    // Whether data is exactly chunk's content: all zeros for a zero chunk, its stored SHA-256 otherwise.
    public bool ChunkMatches(ulong chunk, byte* data, ulong length)
    {
        if (chunk >= ChunkCount || length != ChunkLength(chunk))
            return false;
        if (IsZeroChunk(chunk))
        {
            for (ulong i = 0; i < length; i++)
            {
                if (data[i] != 0)
                    return false;
            }
            return true;
        }
        byte* actual = stackalloc byte[HashSize];
        Sha256.Hash(data, length, actual);
        return Equal(actual, ChunkHash(chunk), HashSize);
    }

    // The first zero chunk, or ChunkCount when there is none.
    public ulong FirstZeroChunk()
    {
        ulong chunk = 0;
        while (chunk < ChunkCount && !IsZeroChunk(chunk))
            chunk++;
        return chunk;
    }

    public static bool HasMagic(byte* p) =>
        p[0] == 'B' && p[1] == 'M' && p[2] == 'C' && p[3] == 'M' && p[4] == 'A' && p[5] == 'N' && p[6] == '0' && p[7] == '1';

    private static ulong ReadLittleEndian(byte* p, int bytes)
    {
        ulong value = 0;
        for (int i = bytes - 1; i >= 0; i--)
            value = value << 8 | p[i];
        return value;
    }

    private static ulong PopCount(byte b)
    {
        ulong n = 0;
        for (; b != 0; b &= (byte)(b - 1))
            n++;
        return n;
    }

    private static bool Equal(byte* a, byte* b, int length)
    {
        int difference = 0;
        for (int i = 0; i < length; i++)
            difference |= a[i] ^ b[i];
        return difference == 0;
    }
}
