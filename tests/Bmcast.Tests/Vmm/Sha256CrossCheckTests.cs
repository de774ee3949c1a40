using System.Security.Cryptography;
using Bmcast.Vmm.Shared;
using CsCheck;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// The hypervisor's freestanding SHA-256 (vmm/src/Shared/Sha256.cs) against the BCL's, on its scalar path here and
/// on the SHA extensions' path in <see cref="Sha256ShaExtensionsCrossCheckTests"/>.
/// </summary>
public sealed unsafe class Sha256CrossCheckTests : Sha256Checks
{
    protected override void UsePath() => Assert.True(Sha256.Accelerated == null, "the scalar path is the default");
}

/// <summary>The checks each of the hypervisor's SHA-256 paths must pass; each test first selects its path.</summary>
public abstract unsafe class Sha256Checks
{
    protected abstract void UsePath();

    [Fact]
    public void One_shot_hash_equals_the_bcl_for_random_inputs_of_zero_to_several_blocks()
    {
        UsePath();
        Gen.Byte.Array[0, 300].Sample(data => Assert.Equal(SHA256.HashData(data), Freestanding(data)), iter: 2000);
    }

    [Theory]
    [InlineData(55)]   // the padding's 0x80 and length still fit the last block
    [InlineData(56)]   // they no longer do: one more block
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(119)]
    [InlineData(120)]
    [InlineData(128)]
    [InlineData(1)]    // odd lengths, up to many blocks
    [InlineData(65)]
    [InlineData(4095)]
    [InlineData(65535)]
    [InlineData(65537)]
    [InlineData(262_147)]
    public void Padding_boundaries_and_odd_lengths_hash_like_the_bcl(int length)
    {
        UsePath();
        var data = new byte[length];
        Random.Shared.NextBytes(data);
        Assert.Equal(SHA256.HashData(data), Freestanding(data));
    }

    [Fact]
    public void Hashing_in_pieces_equals_hashing_at_once()
    {
        UsePath();
        Gen.Select(Gen.Byte.Array[0, 700], Gen.Int[0, 700].Array[0, 6]).Sample(
            (data, cuts) => Assert.Equal(SHA256.HashData(data), InPieces(data, cuts.Select(c => Math.Min(c, data.Length)).Order())),
            iter: 1000);
    }

    [Fact]
    public void A_chunk_hashed_in_8_KiB_steps_from_an_odd_offset_equals_hashing_at_once()
    {
        // The hypervisor hashes a chunk in steps as its AoE frames arrive (ArrivalHasher).
        UsePath();
        var data = new byte[(64 << 10) + 3];
        Random.Shared.NextBytes(data);
        Assert.Equal(SHA256.HashData(data), InPieces(data, Enumerable.Range(0, 8).Select(i => 3 + i * 8192)));
    }

    // Update with the pieces between ascending cuts, then Final.
    private static byte[] InPieces(byte[] data, IEnumerable<int> cuts)
    {
        var hash = new byte[Sha256.HashSize];
        Sha256 sha = default;
        sha.Init();
        int at = 0;
        fixed (byte* d = data)
        {
            foreach (int cut in cuts)
            {
                sha.Update(d + at, (ulong)(cut - at > 0 ? cut - at : 0));
                at = Math.Max(at, cut);
            }
            sha.Update(d + at, (ulong)(data.Length - at));
        }
        fixed (byte* h = hash)
            sha.Final(h);
        return hash;
    }

    [Fact]
    public void A_64_KiB_chunk_hashes_like_the_bcl()
    {
        UsePath();
        var chunk = new byte[64 << 10];
        Random.Shared.NextBytes(chunk);
        Assert.Equal(SHA256.HashData(chunk), Freestanding(chunk));
    }

    internal static byte[] Freestanding(byte[] data)
    {
        var hash = new byte[Sha256.HashSize];
        fixed (byte* d = data)
        fixed (byte* h = hash)
            Sha256.Hash(d, (ulong)data.Length, h);
        return hash;
    }
}
