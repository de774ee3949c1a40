using System.Runtime.CompilerServices;

namespace Bmcast.Vmm.Shared;

// SHA-256 (FIPS 180-4) in a form both the hypervisor (own core library: no
// allocation, no exceptions, no BCL) and the test suite compile; the suite
// checks it against SHA256.HashData (Sha256CrossCheckTests).
// Where the CPU has the SHA extensions, the hypervisor sets Accelerated to
// vmm/asm/sha256ni.asm's routine (Platform/ShaExtensions), which does whole
// blocks in hardware; the suite checks that path against the BCL too
// (Sha256ShaExtensionsCrossCheckTests, on a host with them).
// Every fetched chunk passes through Compress, so it is written for speed
// where the hypervisor runs emulated (QEMU TCG), in which every memory access
// costs a software TLB lookup: the 64 rounds unrolled with their constants as
// immediates (no table: static data needs a runtime this build lacks), the
// message schedule kept as a 16-word window expanded in the rounds, message
// words read as one 32-bit load each.
internal unsafe struct Sha256
{
    public const int HashSize = 32;
    private const int BlockSize = 64;

    // Compresses n whole 64-byte blocks into the state (a..h); null: the scalar Compress.
    public static delegate*<uint*, byte*, ulong, void> Accelerated;

    private fixed uint _state[8];
    private fixed byte _block[BlockSize];
    private ulong _length;
    private int _used;

    public static void Hash(byte* data, ulong length, byte* hash)
    {
        Sha256 sha = default;
        sha.Init();
        sha.Update(data, length);
        sha.Final(hash);
    }

    public void Init()
    {
        _state[0] = 0x6a09e667; _state[1] = 0xbb67ae85; _state[2] = 0x3c6ef372; _state[3] = 0xa54ff53a;
        _state[4] = 0x510e527f; _state[5] = 0x9b05688c; _state[6] = 0x1f83d9ab; _state[7] = 0x5be0cd19;
        _length = 0;
        _used = 0;
    }

    public void Update(byte* data, ulong length)
    {
        _length += length;
        fixed (byte* block = _block)
        fixed (uint* state = _state)
        {
            if (_used > 0)
            {
                while (length > 0 && _used < BlockSize)
                {
                    block[_used++] = *data++;
                    length--;
                }
                if (_used < BlockSize)
                    return;
                CompressBlocks(state, block, 1);
                _used = 0;
            }
            ulong blocks = length / BlockSize;
            if (blocks > 0)
            {
                CompressBlocks(state, data, blocks);
                data += blocks * BlockSize;
                length -= blocks * BlockSize;
            }
            while (length > 0)
            {
                block[_used++] = *data++;
                length--;
            }
        }
    }

    // Pads (0x80, zeros, the bit length big-endian in the last 8 bytes) and
    // writes the 32-byte digest.
    public void Final(byte* hash)
    {
        ulong bits = _length * 8;
        fixed (byte* block = _block)
        fixed (uint* state = _state)
        {
            block[_used++] = 0x80;
            if (_used > BlockSize - 8)
            {
                while (_used < BlockSize)
                    block[_used++] = 0;
                CompressBlocks(state, block, 1);
                _used = 0;
            }
            while (_used < BlockSize - 8)
                block[_used++] = 0;
            for (int i = 0; i < 8; i++)
                block[BlockSize - 1 - i] = (byte)(bits >> (8 * i));
            CompressBlocks(state, block, 1);
            for (int i = 0; i < 8; i++)
            {
                uint s = state[i];
                hash[4 * i] = (byte)(s >> 24);
                hash[4 * i + 1] = (byte)(s >> 16);
                hash[4 * i + 2] = (byte)(s >> 8);
                hash[4 * i + 3] = (byte)s;
            }
        }
    }

    private static void CompressBlocks(uint* state, byte* data, ulong blocks)
    {
        if (Accelerated != null)
        {
            Accelerated(state, data, blocks);
            return;
        }
        for (ulong i = 0; i < blocks; i++)
            Compress(state, data + i * BlockSize);
    }

    // One 64-byte block into the state. The rounds rotate the roles of the
    // eight working variables instead of moving them.
    private static void Compress(uint* state, byte* m)
    {
        uint* w = stackalloc uint[16];
        for (int t = 0; t < 16; t++)
            w[t] = BigEndian(m + 4 * t);
        uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
        unchecked
        {
            Round(a, b, c, ref d, e, f, g, ref h, 0x428a2f98u + w[0]);
            Round(h, a, b, ref c, d, e, f, ref g, 0x71374491u + w[1]);
            Round(g, h, a, ref b, c, d, e, ref f, 0xb5c0fbcfu + w[2]);
            Round(f, g, h, ref a, b, c, d, ref e, 0xe9b5dba5u + w[3]);
            Round(e, f, g, ref h, a, b, c, ref d, 0x3956c25bu + w[4]);
            Round(d, e, f, ref g, h, a, b, ref c, 0x59f111f1u + w[5]);
            Round(c, d, e, ref f, g, h, a, ref b, 0x923f82a4u + w[6]);
            Round(b, c, d, ref e, f, g, h, ref a, 0xab1c5ed5u + w[7]);
            Round(a, b, c, ref d, e, f, g, ref h, 0xd807aa98u + w[8]);
            Round(h, a, b, ref c, d, e, f, ref g, 0x12835b01u + w[9]);
            Round(g, h, a, ref b, c, d, e, ref f, 0x243185beu + w[10]);
            Round(f, g, h, ref a, b, c, d, ref e, 0x550c7dc3u + w[11]);
            Round(e, f, g, ref h, a, b, c, ref d, 0x72be5d74u + w[12]);
            Round(d, e, f, ref g, h, a, b, ref c, 0x80deb1feu + w[13]);
            Round(c, d, e, ref f, g, h, a, ref b, 0x9bdc06a7u + w[14]);
            Round(b, c, d, ref e, f, g, h, ref a, 0xc19bf174u + w[15]);
            Round(a, b, c, ref d, e, f, g, ref h, 0xe49b69c1u + Expand(w, 0));
            Round(h, a, b, ref c, d, e, f, ref g, 0xefbe4786u + Expand(w, 1));
            Round(g, h, a, ref b, c, d, e, ref f, 0x0fc19dc6u + Expand(w, 2));
            Round(f, g, h, ref a, b, c, d, ref e, 0x240ca1ccu + Expand(w, 3));
            Round(e, f, g, ref h, a, b, c, ref d, 0x2de92c6fu + Expand(w, 4));
            Round(d, e, f, ref g, h, a, b, ref c, 0x4a7484aau + Expand(w, 5));
            Round(c, d, e, ref f, g, h, a, ref b, 0x5cb0a9dcu + Expand(w, 6));
            Round(b, c, d, ref e, f, g, h, ref a, 0x76f988dau + Expand(w, 7));
            Round(a, b, c, ref d, e, f, g, ref h, 0x983e5152u + Expand(w, 8));
            Round(h, a, b, ref c, d, e, f, ref g, 0xa831c66du + Expand(w, 9));
            Round(g, h, a, ref b, c, d, e, ref f, 0xb00327c8u + Expand(w, 10));
            Round(f, g, h, ref a, b, c, d, ref e, 0xbf597fc7u + Expand(w, 11));
            Round(e, f, g, ref h, a, b, c, ref d, 0xc6e00bf3u + Expand(w, 12));
            Round(d, e, f, ref g, h, a, b, ref c, 0xd5a79147u + Expand(w, 13));
            Round(c, d, e, ref f, g, h, a, ref b, 0x06ca6351u + Expand(w, 14));
            Round(b, c, d, ref e, f, g, h, ref a, 0x14292967u + Expand(w, 15));
            Round(a, b, c, ref d, e, f, g, ref h, 0x27b70a85u + Expand(w, 0));
            Round(h, a, b, ref c, d, e, f, ref g, 0x2e1b2138u + Expand(w, 1));
            Round(g, h, a, ref b, c, d, e, ref f, 0x4d2c6dfcu + Expand(w, 2));
            Round(f, g, h, ref a, b, c, d, ref e, 0x53380d13u + Expand(w, 3));
            Round(e, f, g, ref h, a, b, c, ref d, 0x650a7354u + Expand(w, 4));
            Round(d, e, f, ref g, h, a, b, ref c, 0x766a0abbu + Expand(w, 5));
            Round(c, d, e, ref f, g, h, a, ref b, 0x81c2c92eu + Expand(w, 6));
            Round(b, c, d, ref e, f, g, h, ref a, 0x92722c85u + Expand(w, 7));
            Round(a, b, c, ref d, e, f, g, ref h, 0xa2bfe8a1u + Expand(w, 8));
            Round(h, a, b, ref c, d, e, f, ref g, 0xa81a664bu + Expand(w, 9));
            Round(g, h, a, ref b, c, d, e, ref f, 0xc24b8b70u + Expand(w, 10));
            Round(f, g, h, ref a, b, c, d, ref e, 0xc76c51a3u + Expand(w, 11));
            Round(e, f, g, ref h, a, b, c, ref d, 0xd192e819u + Expand(w, 12));
            Round(d, e, f, ref g, h, a, b, ref c, 0xd6990624u + Expand(w, 13));
            Round(c, d, e, ref f, g, h, a, ref b, 0xf40e3585u + Expand(w, 14));
            Round(b, c, d, ref e, f, g, h, ref a, 0x106aa070u + Expand(w, 15));
            Round(a, b, c, ref d, e, f, g, ref h, 0x19a4c116u + Expand(w, 0));
            Round(h, a, b, ref c, d, e, f, ref g, 0x1e376c08u + Expand(w, 1));
            Round(g, h, a, ref b, c, d, e, ref f, 0x2748774cu + Expand(w, 2));
            Round(f, g, h, ref a, b, c, d, ref e, 0x34b0bcb5u + Expand(w, 3));
            Round(e, f, g, ref h, a, b, c, ref d, 0x391c0cb3u + Expand(w, 4));
            Round(d, e, f, ref g, h, a, b, ref c, 0x4ed8aa4au + Expand(w, 5));
            Round(c, d, e, ref f, g, h, a, ref b, 0x5b9cca4fu + Expand(w, 6));
            Round(b, c, d, ref e, f, g, h, ref a, 0x682e6ff3u + Expand(w, 7));
            Round(a, b, c, ref d, e, f, g, ref h, 0x748f82eeu + Expand(w, 8));
            Round(h, a, b, ref c, d, e, f, ref g, 0x78a5636fu + Expand(w, 9));
            Round(g, h, a, ref b, c, d, e, ref f, 0x84c87814u + Expand(w, 10));
            Round(f, g, h, ref a, b, c, d, ref e, 0x8cc70208u + Expand(w, 11));
            Round(e, f, g, ref h, a, b, c, ref d, 0x90befffau + Expand(w, 12));
            Round(d, e, f, ref g, h, a, b, ref c, 0xa4506cebu + Expand(w, 13));
            Round(c, d, e, ref f, g, h, a, ref b, 0xbef9a3f7u + Expand(w, 14));
            Round(b, c, d, ref e, f, g, h, ref a, 0xc67178f2u + Expand(w, 15));
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(uint a, uint b, uint c, ref uint d, uint e, uint f, uint g, ref uint h, uint kw)
    {
        uint t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + (g ^ (e & (f ^ g))) + kw;
        d += t1;
        h = t1 + (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) | (c & (a | b)));
    }

    // W[t] for t >= 16, in place of W[t - 16] in the 16-word window (i = t mod 16).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Expand(uint* w, int i)
    {
        uint w15 = w[(i + 1) & 15], w2 = w[(i + 14) & 15];
        uint s0 = Rotr(w15, 7) ^ Rotr(w15, 18) ^ (w15 >> 3);
        uint s1 = Rotr(w2, 17) ^ Rotr(w2, 19) ^ (w2 >> 10);
        return w[i] += s0 + w[(i + 9) & 15] + s1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BigEndian(byte* p)
    {
        uint x = *(uint*)p;
        return x >> 24 | (x >> 8 & 0xFF00) | (x << 8 & 0xFF0000) | x << 24;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Rotr(uint x, int n) => (x >> n) | (x << (32 - n));
}
