using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Streaming;

// Background copy in the guest's idle time (issue 11 (c)), which is also the
// moderation rule: it runs only at a guest HLT, for a slice of SliceUs (at
// least one fetch: a run of up to ChunkFetcher.RunChunks chunks in one AoE
// read, as many as the slice has time for), so guest I/O always comes
// first. The host runs with GIF=0: whatever the guest waits for is
// delivered only when the slice ends, so no slice starts, and no further
// run, while the guest waits for its own I/O or an interrupt is pending
// (GuestWaits); while its I/O is in flight, the guest's HLTs halt the CPU
// until its next interrupt, without an exit each (HltExit.HaltUntilInterrupt).
// Absent chunks are taken in disk order from
// where the last slice stopped. A failed chunk
// pauses the copy for PauseMs (the on-demand path still tries). When every
// chunk is present: a Flush through the private pair, event=complete, the
// host's hold if it asked for one (CompletionHold), and at the first HLT
// where the guest's paging allows it, de-virtualization.
// Completion = every chunk present, data flushed, map committed (DESIGN §4.7).
internal static unsafe class BackgroundCopy
{
    private const ulong SliceUs = 2000, PauseMs = 5000;

    private static ulong s_cursor, s_pausedAt, s_chunkUs;
    private static bool s_complete;

    // Time spent copying in idle slices (its rate: background_bytes over this).
    public static ulong CopyUs;
    // HLTs that ran a slice, and HLTs or slices left early for the guest (I/O in flight, an interrupt pending).
    public static ulong Slices, YieldsToIo, YieldsToInterrupt;

    public static void Idle(Vcpu* vcpu)
    {
        if (s_complete)
        {
            TryLeave(vcpu);
            return;
        }
        if (!Controller.Running || PrivateQueuePair.Id == 0 || HiddenTail.Namespace == 0)
            return;   // between a controller reset and the next enable
        if (GuestWaits(vcpu))
            return;
        PresenceStore.CommitIfDue();
        if (s_pausedAt != 0 && Clock.MsSince(s_pausedAt) < PauseMs)
            return;
        s_pausedAt = 0;
        Slices++;
        ulong started = Clock.Now, elapsedUs = 0;
        do
        {
            ulong chunk = ChunkMap.NextAbsent(s_cursor);
            if (chunk == ChunkMap.Chunks)
            {
                Complete(vcpu);
                return;
            }
            // The absent chunks from here, as many as one fetch takes and the slice has time for (zero chunks cost no fetch).
            ulong count = 1, limit = RunLimit(SliceUs - elapsedUs);
            while (count < limit && chunk + count < ChunkMap.Chunks && !ChunkMap.IsPresent(chunk + count))
                count++;
            ulong chunkStarted = Clock.Now, fetchedBefore = ChunkFetcher.FetchedChunks;
            FetchFailure failure = ChunkFetcher.MakePresent(chunk, count, true, out ulong failed);
            ulong us = Clock.MicrosecondsSince(chunkStarted);
            CopyUs += us;
            Learn(us, ChunkFetcher.FetchedChunks - fetchedBefore);
            s_cursor = failure == FetchFailure.None ? chunk + count : failed + 1;
            if (failure != FetchFailure.None)
            {
                StreamEvents.Error(failure, failed);
                s_pausedAt = Clock.Now;
                return;
            }
            elapsedUs = Clock.MicrosecondsSince(started);
        }
        while (elapsedUs < SliceUs && !GuestWaits(vcpu));
        StreamEvents.Progress();
    }

    // Whether the guest waits for something a slice would delay: the
    // completion of an I/O command in flight, or an interrupt already
    // pending (its timer, a device). Asked before each run, so a slice
    // delays a wake-up by one run at most. Nothing can be copied before the
    // guest's I/O completes, which it learns by an interrupt: its HLTs halt
    // until then.
    private static bool GuestWaits(Vcpu* vcpu)
    {
        if (GuestIo.InFlight)
        {
            YieldsToIo++;
            HltExit.HaltUntilInterrupt(vcpu);
            return true;
        }
        if (LocalApic.InterruptPending())
        {
            YieldsToInterrupt++;
            return true;
        }
        return false;
    }

    // Chunks the next run may take: as many as the rest of the slice has
    // time for at the measured time per fetched chunk, at least one. Under
    // TCG's scalar SHA-256 a chunk alone outlasts the slice, so a run is one
    // chunk there; a run of four (ChunkFetcher.RunChunks) would hold the
    // guest four times as long.
    private static ulong RunLimit(ulong usLeft)
    {
        if (s_chunkUs == 0)
            return 1;
        ulong chunks = usLeft / s_chunkUs;
        return chunks < 1 ? 1 : chunks > ChunkFetcher.RunChunks ? ChunkFetcher.RunChunks : chunks;
    }

    // Smooths the time per fetched chunk (weight 1/8 for each new run).
    private static void Learn(ulong us, ulong fetched)
    {
        if (fetched == 0)
            return;
        ulong sample = us / fetched;
        s_chunkUs = s_chunkUs == 0 ? sample : (7 * s_chunkUs + sample) / 8;
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
