using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;

namespace Bmcast.Vmm.Streaming;

// Verifies a run of consecutive chunks while their AoE replies still
// arrive: AoeInitiator.Read calls Step whenever no reply is waiting, with
// how many bytes of the run have arrived without a gap. Each call hashes at
// most StepBytes of them, so the next replies are taken promptly (they queue
// in the receive ring meanwhile), and at each chunk's end checks its digest
// against the manifest. On one CPU this does the hashing in the time spent
// waiting for the wire; Finish hashes whatever is left once the read is done.
internal static unsafe class ArrivalHasher
{
    private const ulong StepBytes = 8192;
    public const int MaxChunks = 64;   // bits of s_matches

    private static ManifestView s_manifest;
    private static byte* s_buffer;
    private static ulong s_first, s_count, s_hashed, s_offset, s_matches;
    private static Sha256 s_sha;
    private static ulong s_rankByte, s_rank;   // ManifestView.ChunkHash's cursor, kept across runs

    // chunks first..first+count-1 are read into buffer, chunk i of the run at i * ChunkSize.
    public static void Start(ManifestView manifest, ulong first, ulong count, byte* buffer)
    {
        s_manifest = manifest;
        s_first = first;
        s_count = count;
        s_buffer = buffer;
        s_hashed = 0;
        s_offset = 0;
        s_matches = 0;
        s_sha.Init();
    }

    // arrived: bytes from the run's start that are in the buffer. True if it hashed anything.
    public static bool Step(ulong arrived)
    {
        if (s_hashed == s_count)
            return false;
        ulong started = Clock.Now;
        ulong chunkStart = s_hashed * s_manifest.ChunkSize;
        ulong length = s_manifest.ChunkLength(s_first + s_hashed);
        ulong end = arrived < chunkStart + length ? arrived : chunkStart + length;
        ulong from = chunkStart + s_offset;
        if (end <= from)
            return false;
        ulong take = end - from < StepBytes ? end - from : StepBytes;
        s_sha.Update(s_buffer + from, take);
        s_offset += take;
        if (s_offset == length)
        {
            byte* digest = stackalloc byte[Sha256.HashSize];
            s_sha.Final(digest);
            if (s_manifest.HashMatches(s_first + s_hashed, digest, ref s_rankByte, ref s_rank))
                s_matches |= 1UL << (int)s_hashed;
            s_hashed++;
            s_offset = 0;
            s_sha.Init();
        }
        FetchPhases.HashTicks += Clock.Now - started;
        return true;
    }

    // Hashes the rest: the whole run has arrived.
    public static void Finish()
    {
        while (s_hashed < s_count)
            Step(~0UL);
    }

    // Chunks of the run hashed so far (the first Hashed ones).
    public static ulong Hashed => s_hashed;

    // Whether chunk i of the run (i < Hashed) matched its stored hash.
    public static bool Matches(ulong i) => (s_matches >> (int)i & 1) != 0;
}
