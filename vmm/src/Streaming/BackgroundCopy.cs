using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Streaming;

// Background copy in the guest's idle time (issue 11 (c)), which is also the
// moderation rule: it runs only at a guest HLT, for a slice of SliceUs (at
// least one fetch: up to ChunkFetcher.RunChunks chunks in one AoE read), so
// guest I/O always comes first. Absent chunks are taken in disk order from
// where the last slice stopped. A failed chunk
// pauses the copy for PauseMs (the on-demand path still tries). When every
// chunk is present: a Flush through the private pair, event=complete, the
// host's hold if it asked for one (CompletionHold), and at the first HLT
// where the guest's paging allows it, de-virtualization.
// Completion = every chunk present, data flushed, map committed (DESIGN §4.7).
internal static unsafe class BackgroundCopy
{
    private const ulong SliceUs = 2000, PauseMs = 5000;

    private static ulong s_cursor, s_pausedAt;
    private static bool s_complete;

    // Time spent copying in idle slices (its rate: background_bytes over this).
    public static ulong CopyUs;

    public static void Idle(Vcpu* vcpu)
    {
        if (s_complete)
        {
            TryLeave(vcpu);
            return;
        }
        if (!Controller.Running || PrivateQueuePair.Id == 0 || HiddenTail.Namespace == 0)
            return;   // between a controller reset and the next enable
        PresenceStore.CommitIfDue();
        if (s_pausedAt != 0 && Clock.MsSince(s_pausedAt) < PauseMs)
            return;
        s_pausedAt = 0;
        ulong started = Clock.Now;
        do
        {
            ulong chunk = ChunkMap.NextAbsent(s_cursor);
            if (chunk == ChunkMap.Chunks)
            {
                Complete(vcpu);
                return;
            }
            // The absent chunks from here, as many as one fetch takes (zero chunks cost no fetch).
            ulong count = 1;
            while (count < ChunkFetcher.RunChunks && chunk + count < ChunkMap.Chunks && !ChunkMap.IsPresent(chunk + count))
                count++;
            ulong chunkStarted = Clock.Now;
            FetchFailure failure = ChunkFetcher.MakePresent(chunk, count, true, out ulong failed);
            CopyUs += Clock.MicrosecondsSince(chunkStarted);
            s_cursor = failure == FetchFailure.None ? chunk + count : failed + 1;
            if (failure != FetchFailure.None)
            {
                StreamEvents.Error(failure, failed);
                s_pausedAt = Clock.Now;
                return;
            }
        }
        while (Clock.MicrosecondsSince(started) < SliceUs);
        StreamEvents.Progress();
    }

    private static void Complete(Vcpu* vcpu)
    {
        if (!PrivateQueuePair.Flush(HiddenTail.Namespace) || !PresenceStore.Commit())
        {
            StreamEvents.Error(FetchFailure.Write, ChunkMap.Chunks);
            s_pausedAt = Clock.Now;
            return;
        }
        if (PendingWrites.Count != 0)
            return;   // a guest write still owes its completion: the committed map lacks its chunks; next HLT
        s_complete = true;
        StreamEvents.Completed();
        CompletionHold.Wait();
        TryLeave(vcpu);
    }

    private static void TryLeave(Vcpu* vcpu)
    {
        if (!Devirtualizer.CanLeave(vcpu))
            return;
        HltExit.StopIntercepting(vcpu);
        vcpu->LeaveRequested = true;
    }
}
