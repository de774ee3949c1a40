using System.Buffers.Binary;
using System.Security.Cryptography;
using Xunit;
using Bmcast.Core.Manifests;

namespace Bmcast.Tests.Images;

public sealed class ManifestTests
{
    private const int ChunkSize = 4096;
    private const long ImageSize = 9 * ChunkSize + 100;
    private static readonly bool[] ZeroChunks = [false, true, true, false, false, true, false, false, true, false];

    private static Manifest Small(ECDsa? key = null)
    {
        using var own = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var hashes = new byte[ZeroChunks.Length * Manifest.HashSize];
        for (int i = 0; i < ZeroChunks.Length; i++)
            SHA256.HashData(BitConverter.GetBytes(i), hashes.AsSpan(i * Manifest.HashSize));
        return Manifest.Create(ImageSize, ChunkSize, ZeroChunks, hashes, key ?? own);
    }

    [Fact]
    public void Round_trip_keeps_every_field()
    {
        var original = Small();
        var decoded = Manifest.Decode(original.Encode());

        Assert.Equal(original.ImageSize, decoded.ImageSize);
        Assert.Equal(original.ChunkSize, decoded.ChunkSize);
        Assert.Equal(original.ChunkCount, decoded.ChunkCount);
        Assert.Equal(6, decoded.NonZeroChunkCount);
        Assert.Equal(100, decoded.ChunkLength(decoded.ChunkCount - 1));
        for (long chunk = 0; chunk < decoded.ChunkCount; chunk++)
        {
            Assert.Equal(ZeroChunks[chunk], decoded.IsZeroChunk(chunk));
            if (!ZeroChunks[chunk])
                Assert.Equal(original.ChunkHash(chunk).ToArray(), decoded.ChunkHash(chunk).ToArray());
        }
        Assert.Equal(original.RootHash, decoded.RootHash);
        Assert.Equal(original.KeyFingerprint, decoded.KeyFingerprint);
        Assert.True(decoded.HasValidSignature());
        Assert.Equal(original.Encode(), decoded.Encode());
    }

    [Fact]
    public void Every_truncation_is_a_format_error()
    {
        byte[] encoded = Small().Encode();
        for (int length = 0; length < encoded.Length; length++)
            Assert.Throws<ManifestFormatException>(() => Manifest.Decode(encoded.AsSpan(0, length)));
    }

    [Fact]
    public void Trailing_bytes_are_a_format_error()
    {
        byte[] encoded = [.. Small().Encode(), 0];
        Assert.Throws<ManifestFormatException>(() => Manifest.Decode(encoded));
    }

    /// <summary>
    /// Some flips in the public key's DER (e.g. the BIT STRING's unused-bits byte) still import as the
    /// same key; only the canonical encoding counts, so that one key has one fingerprint.
    /// </summary>
    [Fact]
    public void No_flipped_bit_passes_as_signed()
    {
        var original = Small();
        byte[] encoded = original.Encode();
        for (int bit = 0; bit < encoded.Length * 8; bit++)
        {
            byte[] tampered = (byte[])encoded.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            try
            {
                var decoded = Manifest.Decode(tampered);
                Assert.False(decoded.HasValidSignature(), $"flipping bit {bit} went unnoticed");
            }
            catch (ManifestFormatException)
            {
            }
        }
    }

    [Fact]
    public void A_recomputed_root_over_modified_hashes_fails_the_signature()
    {
        var manifest = Small();
        byte[] encoded = manifest.Encode();
        int bodyLength = 32 + 2 + 6 * Manifest.HashSize; // header, 10-bit bitmap, six hashes
        encoded[bodyLength - 1] ^= 0xFF;
        SHA256.HashData(encoded.AsSpan(0, bodyLength), encoded.AsSpan(bodyLength, Manifest.HashSize));

        var forged = Manifest.Decode(encoded);

        Assert.NotEqual(manifest.RootHash, forged.RootHash);
        Assert.False(forged.HasValidSignature());
    }

    [Fact]
    public void A_huge_declared_size_is_a_format_error_not_an_allocation()
    {
        byte[] encoded = Small().Encode();
        BinaryPrimitives.WriteUInt64LittleEndian(encoded.AsSpan(16), (ulong)Manifest.MaxImageSize);
        BinaryPrimitives.WriteUInt64LittleEndian(encoded.AsSpan(24), (ulong)(Manifest.MaxImageSize / ChunkSize));
        Assert.Throws<ManifestFormatException>(() => Manifest.Decode(encoded));
    }

    [Fact]
    public void Matches_checks_length_zero_chunks_and_hashes()
    {
        var manifest = Small();
        Assert.True(manifest.Matches(1, new byte[ChunkSize]));
        Assert.False(manifest.Matches(1, new byte[ChunkSize - 1]));
        Assert.False(manifest.Matches(0, new byte[ChunkSize]));
    }
}
