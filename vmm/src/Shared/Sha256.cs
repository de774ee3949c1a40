using System.Runtime.CompilerServices;

namespace Bmcast.Vmm.Shared;

// SHA-256 (FIPS 180-4) in a form both the hypervisor (own core library: no
// allocation, no exceptions, no BCL) and the test suite compile; the suite
// checks it against SHA256.HashData (Sha256CrossCheckTests).
// Where the CPU has the SHA extensions, the hypervisor sets Accelerated to
// vmm/asm/sha256ni.asm's routine (Platform/ShaExtensions), which does whole
// blocks in hardware; the suite checks that path against the BCL too
// (Sha256ShaExtensionsCrossCheckTests, on a host with them).
// Every fetched chunk passes through the scalar Compress where the CPU lacks
// the extensions (QEMU 7.2's TCG does not offer them), so its speed under TCG
// is what vmm/bench.sh's fetch phases measure. The round constants are built
// once per CompressBlocks call (static data needs a runtime this build lacks).
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
        uint* k = stackalloc uint[64];
        uint* w = stackalloc uint[64];
        LoadRoundConstants(k);
        for (ulong i = 0; i < blocks; i++)
            Compress(state, data + i * BlockSize, k, w);
    }

    // One 64-byte block into the state: the textbook loops. Under TCG they ran
    // about 3x faster than the 64 rounds unrolled through an inlined helper with
    // ref parameters (0.29 s against 0.86-1.02 s of SHA-256 for tiny's fetches,
    // vmm/bench.sh, quiet), which natively were as fast as these.
    private static void Compress(uint* state, byte* m, uint* k, uint* w)
    {
        for (int t = 0; t < 16; t++)
            w[t] = BigEndian(m + 4 * t);
        for (int t = 16; t < 64; t++)
        {
            uint s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++)
        {
            uint t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + (g ^ (e & (f ^ g))) + k[t] + w[t];
            uint t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) | (c & (a | b)));
            h = g; g = f; f = e; e = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BigEndian(byte* p)
    {
        uint x = *(uint*)p;
        return x >> 24 | (x >> 8 & 0xFF00) | (x << 8 & 0xFF0000) | x << 24;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Rotr(uint x, int n) => (x >> n) | (x << (32 - n));

    private static void LoadRoundConstants(uint* k)
    {
        k[0] = 0x428a2f98; k[1] = 0x71374491; k[2] = 0xb5c0fbcf; k[3] = 0xe9b5dba5;
        k[4] = 0x3956c25b; k[5] = 0x59f111f1; k[6] = 0x923f82a4; k[7] = 0xab1c5ed5;
        k[8] = 0xd807aa98; k[9] = 0x12835b01; k[10] = 0x243185be; k[11] = 0x550c7dc3;
        k[12] = 0x72be5d74; k[13] = 0x80deb1fe; k[14] = 0x9bdc06a7; k[15] = 0xc19bf174;
        k[16] = 0xe49b69c1; k[17] = 0xefbe4786; k[18] = 0x0fc19dc6; k[19] = 0x240ca1cc;
        k[20] = 0x2de92c6f; k[21] = 0x4a7484aa; k[22] = 0x5cb0a9dc; k[23] = 0x76f988da;
        k[24] = 0x983e5152; k[25] = 0xa831c66d; k[26] = 0xb00327c8; k[27] = 0xbf597fc7;
        k[28] = 0xc6e00bf3; k[29] = 0xd5a79147; k[30] = 0x06ca6351; k[31] = 0x14292967;
        k[32] = 0x27b70a85; k[33] = 0x2e1b2138; k[34] = 0x4d2c6dfc; k[35] = 0x53380d13;
        k[36] = 0x650a7354; k[37] = 0x766a0abb; k[38] = 0x81c2c92e; k[39] = 0x92722c85;
        k[40] = 0xa2bfe8a1; k[41] = 0xa81a664b; k[42] = 0xc24b8b70; k[43] = 0xc76c51a3;
        k[44] = 0xd192e819; k[45] = 0xd6990624; k[46] = 0xf40e3585; k[47] = 0x106aa070;
        k[48] = 0x19a4c116; k[49] = 0x1e376c08; k[50] = 0x2748774c; k[51] = 0x34b0bcb5;
        k[52] = 0x391c0cb3; k[53] = 0x4ed8aa4a; k[54] = 0x5b9cca4f; k[55] = 0x682e6ff3;
        k[56] = 0x748f82ee; k[57] = 0x78a5636f; k[58] = 0x84c87814; k[59] = 0x8cc70208;
        k[60] = 0x90befffa; k[61] = 0xa4506ceb; k[62] = 0xbef9a3f7; k[63] = 0xc67178f2;
    }
}
