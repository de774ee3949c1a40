using System.Runtime.InteropServices;
using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Nvme;

namespace Bmcast.Vmm.Streaming;

// Guest writes that made absent chunks present by covering them wholly (the
// write gap). At the doorbell such a chunk becomes present in memory at once,
// so no fetch or background copy puts image data under the write; but its
// data is not on the disk until the write completes, so the map on disk must
// not claim it before then (DESIGN §4.2): a commit followed by a power cut
// would leave a chunk that reads as zeros, neither the image nor the guest's
// write. Each such claim is kept here, by the command's queue and id, until
// its completion is seen: consumed at the guest's completion-head doorbell,
// or posted in a completion queue when a commit looks (a guest FLUSH is
// submitted only after the writes it orders completed, so their chunks are
// claimed in the commit it triggers). A successful write makes the claim
// durable-eligible; a failed one, or a controller reset before the
// completion, gives the chunks back (absent: the image's bytes are the old
// data the guest may expect after a write that did not complete). When the
// table is full the caller fetches the chunk first instead, as for a partly
// covered one.
internal static unsafe class PendingWrites
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Claim
    {
        public ushort Queue;   // 0 = free (I/O queues start at 1)
        public ushort CommandId;
        public uint Reserved;
        public ulong First, Last;   // chunks
    }

    public const ulong Pages = 1;

    private static Claim* s_claims;
    private static int s_capacity, s_count;

    public static ulong Recorded, Returned;

    public static int Count => s_count;

    public static void Place(byte* page)
    {
        s_claims = (Claim*)page;
        s_capacity = (int)(Pages * ReservedMemory.PageSize) / sizeof(Claim);
    }

    public static bool TryRecord(ushort queue, ushort commandId, ulong first, ulong last)
    {
        for (int i = 0; i < s_capacity; i++)
        {
            if (s_claims[i].Queue != 0)
                continue;
            s_claims[i].Queue = queue;
            s_claims[i].CommandId = commandId;
            s_claims[i].First = first;
            s_claims[i].Last = last;
            s_count++;
            Recorded++;
            return true;
        }
        return false;
    }

    // A completion the guest consumed (completion-head doorbell).
    public static void Completed(NvmeCompletion* completion)
    {
        if (s_count == 0)
            return;
        for (int i = 0; i < s_capacity; i++)
        {
            Claim* claim = &s_claims[i];
            if (claim->Queue == completion->SubmissionQueueId && claim->CommandId == completion->CommandId)
                Settle(claim, completion->Succeeded);
        }
    }

    // Completions the controller posted that the guest has not consumed yet:
    // before a commit, so that writes the guest already saw complete are claimed.
    public static void CollectPosted()
    {
        if (s_count == 0)
            return;
        for (uint q = 1; q < QueueTable.MaxQueues && s_count != 0; q++)
        {
            CompletionQueue* cq = QueueTable.Completion(q);
            if (q == PrivateQueuePair.Id || !cq->Known)
                continue;
            uint index = cq->Head, phase = cq->Phase;
            for (uint seen = 0; seen < cq->Entries; seen++)
            {
                NvmeCompletion* entry = cq->At(index);
                if (entry->Phase != phase)
                    break;
                Completed(entry);
                index = index + 1 == cq->Entries ? 0 : index + 1;
                if (index == 0)
                    phase ^= 1;
            }
        }
    }

    // At a controller enable: the reset deleted every queue, so the
    // completions of claims still open will never come.
    public static void Abandon()
    {
        for (int i = 0; s_count != 0 && i < s_capacity; i++)
        {
            if (s_claims[i].Queue != 0)
                Settle(&s_claims[i], false);
        }
    }

    // The committed copy of the map (bits as ChunkMap's) loses every chunk still claimed.
    public static void Unclaim(byte* bits)
    {
        for (int i = 0; s_count != 0 && i < s_capacity; i++)
        {
            if (s_claims[i].Queue == 0)
                continue;
            for (ulong c = s_claims[i].First; c <= s_claims[i].Last; c++)
                bits[c >> 3] &= (byte)~(1 << (int)(c & 7));
        }
    }

    private static void Settle(Claim* claim, bool succeeded)
    {
        ulong first = claim->First, last = claim->Last;
        claim->Queue = 0;
        s_count--;
        if (succeeded)
        {
            ChunkMap.Dirty = true;   // now the next commit may claim them
            return;
        }
        Returned++;
        for (ulong c = first; c <= last; c++)
        {
            if (!IsClaimed(c))
                ChunkMap.MarkAbsent(c);
        }
    }

    private static bool IsClaimed(ulong chunk)
    {
        for (int i = 0; i < s_capacity; i++)
        {
            if (s_claims[i].Queue != 0 && s_claims[i].First <= chunk && chunk <= s_claims[i].Last)
                return true;
        }
        return false;
    }
}
