using System.Security.Cryptography;
using Bmcast.Core.Aoe;
using Bmcast.Core.Manifests;
using Bmcast.Vmm.Shared;
using CsCheck;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// The hypervisor's manifest view (vmm/src/Shared/ManifestView.cs) decodes what <see cref="Manifest.Encode"/> writes:
/// geometry, zero chunks, every chunk's hash, the root (as `bmcast image inspect` names it), and the companion framing.
/// </summary>
public sealed unsafe class ManifestViewCrossCheckTests
{
    private static readonly ECDsa Key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    private static readonly Gen<Manifest> GenManifest =
        Gen.Select(Gen.Int[12, 16], Gen.Long[1, 300 << 12], Gen.Int[0, 100]).SelectMany((shift, size, zeroPercent) =>
        {
            int chunkSize = 1 << shift;
            int count = (int)Manifest.ChunkCountFor(size, chunkSize);
            return Gen.Select(Gen.Int[0, 99].Array[count], Gen.Byte.Array[count * Manifest.HashSize], (dice, hashes) =>
                Manifest.Create(size, chunkSize, dice.Select(d => d < zeroPercent).ToArray(), hashes, Key));
        });

    [Fact]
    public void The_view_reads_what_Manifest_encodes() =>
        GenManifest.Sample(manifest =>
        {
            byte[] encoded = manifest.Encode();
            fixed (byte* e = encoded)
            fixed (byte* root = manifest.RootHash)
            {
                Assert.Equal(ManifestStatus.Valid, ManifestView.TryParse(e, (ulong)encoded.Length, out var view));
                Assert.Equal((ulong)manifest.ImageSize, view.ImageSize);
                Assert.Equal((uint)manifest.ChunkSize, view.ChunkSize);
                Assert.Equal((ulong)manifest.ChunkCount, view.ChunkCount);
                Assert.Equal((ulong)(manifest.ChunkCount - manifest.NonZeroChunkCount), view.ZeroChunkCount);
                Assert.Equal(ManifestStatus.Valid, view.CheckRoot(root));
                Assert.Equal(manifest.RootHash, new ReadOnlySpan<byte>(view.EmbeddedRoot, ManifestView.HashSize).ToArray());
                for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
                {
                    Assert.Equal(manifest.IsZeroChunk(chunk), view.IsZeroChunk((ulong)chunk));
                    Assert.Equal((ulong)manifest.ChunkLength(chunk), view.ChunkLength((ulong)chunk));
                    if (!manifest.IsZeroChunk(chunk))
                        Assert.Equal(manifest.ChunkHash(chunk).ToArray(), new ReadOnlySpan<byte>(view.ChunkHash((ulong)chunk), 32).ToArray());
                }
            }
        }, iter: 200);

    [Fact]
    public void Hash_lookups_through_a_cursor_in_any_order_find_each_chunks_own_hash() =>
        Gen.Select(GenManifest, Gen.Int[0, 1000].Array[1, 40]).Sample((manifest, picks) =>
        {
            byte[] encoded = manifest.Encode();
            fixed (byte* e = encoded)
            {
                Assert.Equal(ManifestStatus.Valid, ManifestView.TryParse(e, (ulong)encoded.Length, out var view));
                ulong cursorByte = 0, cursorRank = 0;   // one cursor, moved forward and back by the picks
                foreach (long chunk in picks.Select(p => p % manifest.ChunkCount).Where(c => !manifest.IsZeroChunk(c)))
                    Assert.Equal(manifest.ChunkHash(chunk).ToArray(),
                        new ReadOnlySpan<byte>(view.ChunkHash((ulong)chunk, ref cursorByte, ref cursorRank), 32).ToArray());
            }
        }, iter: 200);

    [Fact]
    public void A_chunk_matches_only_its_own_content()
    {
        var chunks = new[] { RandomBytes(8192), new byte[8192], RandomBytes(100) };
        var hashes = chunks.SelectMany(c => SHA256.HashData(c)).ToArray();
        var manifest = Manifest.Create(8192 * 2 + 100, 8192, [false, true, false], hashes, Key);
        byte[] encoded = manifest.Encode();
        fixed (byte* e = encoded)
        {
            Assert.Equal(ManifestStatus.Valid, ManifestView.TryParse(e, (ulong)encoded.Length, out var view));
            for (int i = 0; i < chunks.Length; i++)
                Assert.True(Matches(view, i, chunks[i]), $"chunk {i}");
            Assert.Equal(1UL, view.FirstZeroChunk());
            var damaged = (byte[])chunks[0].Clone();
            damaged[^1] ^= 1;
            Assert.False(Matches(view, 0, damaged));
            Assert.False(Matches(view, 1, [.. new byte[8191], 1]));
            Assert.False(Matches(view, 2, chunks[2][..99]));   // wrong length
            Assert.False(Matches(view, 3, chunks[2]));         // past the last chunk
        }
    }

    [Fact]
    public void Any_changed_body_byte_fails_the_root_check_and_a_foreign_root_is_not_pinned() =>
        Gen.Select(GenManifest, Gen.Int[0, int.MaxValue], Gen.Byte[1, 255]).Sample((manifest, where, flip) =>
        {
            byte[] encoded = manifest.Encode();
            fixed (byte* e = encoded)
            fixed (byte* root = manifest.RootHash)
            {
                Assert.Equal(ManifestStatus.Valid, ManifestView.TryParse(e, (ulong)encoded.Length, out var view));
                var other = (byte[])manifest.RootHash.Clone();
                other[where % other.Length] ^= flip;
                fixed (byte* o = other)
                    Assert.Equal(ManifestStatus.NotPinnedRoot, view.CheckRoot(o));
                int at = 32 + where % (int)(view.BodyLength - 32);   // past the header, whose damage TryParse refuses
                e[at] ^= flip;
                if (ManifestView.TryParse(e, (ulong)encoded.Length, out var damaged) == ManifestStatus.Valid)
                    Assert.Equal(ManifestStatus.RootMismatch, damaged.CheckRoot(root));
                Assert.ThrowsAny<ManifestFormatException>(() => Manifest.Decode(encoded));
            }
        }, iter: 200);

    [Fact]
    public void Damaged_headers_are_refused_like_Manifest_Decode_refuses_them()
    {
        byte[] good = Manifest.Create(3 * 4096, 4096, [false, true, false], new byte[96], Key).Encode();
        Assert.Equal(ManifestStatus.BadMagic, Parse(good, b => b[0] = (byte)'X'));
        Assert.Equal(ManifestStatus.BadVersion, Parse(good, b => b[8] = 2));
        Assert.Equal(ManifestStatus.BadChunkSize, Parse(good, b => b[12] = 1));
        Assert.Equal(ManifestStatus.BadImageSize, Parse(good, b => Array.Clear(b, 16, 8)));
        Assert.Equal(ManifestStatus.BadChunkCount, Parse(good, b => b[24] = 4));
        Assert.Equal(ManifestStatus.BitmapPadding, Parse(good, b => b[32] |= 0x80));
        Assert.Equal(ManifestStatus.Truncated, Parse(good[..(32 + 1 + 64 + 31)], _ => { }));
        Assert.Equal(ManifestStatus.BadMagic, Parse(good[..31], _ => { }));
    }

    [Fact]
    public void The_companion_frame_gives_the_manifest_length_the_server_framed() =>
        GenManifest.Sample(manifest =>
        {
            byte[] payload = manifest.Encode();
            byte[] device = CompanionFrame.Frame(payload);
            fixed (byte* d = device)
            {
                Assert.True(Companion.TryReadManifestLength(d, (ulong)device.Length, out ulong length));
                Assert.Equal((ulong)payload.Length, length);
                Assert.False(Companion.TryReadManifestLength(d, (ulong)payload.Length, out _));   // device too short for it
                d[8] ^= 1;
                Assert.False(Companion.TryReadManifestLength(d, (ulong)device.Length, out _));    // no manifest magic
            }
        }, iter: 50);

    private static bool Matches(ManifestView view, int chunk, byte[] data)
    {
        fixed (byte* d = data)
            return view.ChunkMatches((ulong)chunk, d, (ulong)data.Length);
    }

    private static ManifestStatus Parse(byte[] good, Action<byte[]> damage)
    {
        var bytes = (byte[])good.Clone();
        damage(bytes);
        fixed (byte* b = bytes)
            return ManifestView.TryParse(b, (ulong)bytes.Length, out _);
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }
}
