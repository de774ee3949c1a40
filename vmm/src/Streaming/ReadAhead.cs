namespace Bmcast.Vmm.Streaming;

// On-demand read-ahead: a read miss that starts where the previous one's
// fetch ended reads on sequentially, so its fetch takes the chunks after it
// too, filling its last run (ChunkFetcher.RunChunks chunks, one AoE read):
// the guest's next read finds them present instead of waiting for a fetch of
// its own (a doorbell hold, a round trip). Only sequential misses read
// ahead, by less than one run each, which keeps what is fetched before the
// guest is ready near what it reads (goal <= 1.2x).
internal static class ReadAhead
{
    private static ulong s_next = ~0UL;   // the chunk after the last read miss's fetch

    public static ulong Chunks;   // asked for ahead (some may turn out present or all-zero)

    // Chunks to fetch after first..first+count-1, the last run a read needs.
    public static ulong For(ulong first, ulong count)
    {
        ulong ahead = 0;
        if (first == s_next)
        {
            ulong run = ChunkFetcher.RunChunks, end = first + count;
            ahead = (run - count % run) % run;
            if (ahead > ChunkMap.Chunks - end)
                ahead = ChunkMap.Chunks - end;
        }
        s_next = first + count + ahead;
        Chunks += ahead;
        return ahead;
    }
}
