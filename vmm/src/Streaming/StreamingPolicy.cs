using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Streaming;

// The I/O policy while the disk fills (DESIGN §6, issue 11 (b)): called at
// the doorbell with each new command of the guest's I/O queues, before the
// controller may fetch it. Commands that read media (Read, Compare, Verify)
// wait until every chunk they touch is present; commands that write (Write,
// Write Zeroes, Write Uncorrectable, Dataset Management with Deallocate)
// make the chunks they cover wholly present without a fetch (the guest owns
// them; the map on disk claims them only once the write completed,
// PendingWrites) and first complete a partly covered absent chunk, so that
// image data can never land over a guest write later. Then the command is forwarded
// unchanged and runs against the local disk. When a chunk cannot be made
// present, the command is made to fail instead (CommandFailure): the
// controller itself answers LBA Out of Range, which Linux reports as an I/O
// error (EIO). Commands that reach into the hidden tail never get here
// (HiddenTailGuard refuses them first).
// Everything happens inside the doorbell exit (one CPU): the guest waits.
internal static unsafe class StreamingPolicy
{
    public static ulong FailedCommands, HeldCommands, HoldUs, MaxHoldUs;

    public static Verdict Submitted(ushort queue, NvmeCommand* command)
    {
        IoCounter.Submitted(queue, command);
        Verdict verdict = Hold(queue, command);
        GuestIo.Submitted();   // after the hold: the command is in flight from here
        return verdict;
    }

    // Makes what the command reads present (or fails it) before it is forwarded.
    private static Verdict Hold(ushort queue, NvmeCommand* command)
    {
        if (command->NamespaceId != HiddenTail.Namespace || HiddenTail.Namespace == 0)
            return Verdict.Forward;
        ulong started = Clock.Now;
        ulong presentBefore = ChunkMap.PresentCount;
        bool ok;
        switch (command->Opcode)
        {
            case NvmeCommand.IoFlush:
                // The guest's data and the presence bits that protect it survive together.
                PresenceStore.Commit();
                return Verdict.Forward;
            case NvmeCommand.IoRead:
            case NvmeCommand.IoCompare:
            case NvmeCommand.IoVerify:
                ok = Prepare(queue, command, command->StartingLba, command->BlockCount, false);
                break;
            case NvmeCommand.IoWrite:
            case NvmeCommand.IoWriteZeroes:
            case NvmeCommand.IoWriteUncorrectable:
                ok = Prepare(queue, command, command->StartingLba, command->BlockCount, true);
                break;
            case NvmeCommand.IoDatasetManagement:
                ok = (command->Cdw11 & NvmeCommand.DeallocateAttribute) == 0 || PrepareDeallocate(queue, command);
                break;
            case NvmeCommand.IoCopy:
                // Reads source ranges the doorbell does not see; rare (Linux 6.1 never sends it).
                StreamEvents.Error(FetchFailure.Unsupported, 0);
                ok = false;
                break;
            default:
                return Verdict.Forward;
        }
        if (!ok)
        {
            FailedCommands++;
            CommandFailure.OutOfRange(command);
        }
        else if (IsFua(command))
            PresenceStore.Commit();
        else
            PresenceStore.CommitIfDue();
        if (ChunkMap.PresentCount != presentBefore || !ok)
        {
            ulong us = Clock.MicrosecondsSince(started);
            HeldCommands++;
            HoldUs += us;
            if (us > MaxHoldUs)
                MaxHoldUs = us;
            StreamEvents.Progress();
        }
        return Verdict.Forward;
    }

    // Each I/O completion the guest consumes (its completion-head doorbell).
    public static void Completed(NvmeCompletion* completion)
    {
        GuestIo.Completed();
        PendingWrites.Completed(completion);
    }

    // Each controller enable: the reset before it deleted every queue and the commands in them.
    public static void ControllerEnabled()
    {
        GuestIo.Reset();
        PresenceStore.ControllerEnabled();
    }

    // Chunks the LBA range touches: absent ones fetched (a read, or a write's
    // partly covered ends) before any wholly written one is claimed, so a
    // failed fetch leaves nothing claimed. A write's wholly covered absent
    // chunks are claimed without a fetch, in runs, each kept in PendingWrites
    // until the write's completion is seen (the map on disk must not claim
    // them before their data is there); if none is free, the run is fetched
    // first like a partly covered chunk.
    private static bool Prepare(ushort queue, NvmeCommand* command, ulong lba, ulong blocks, bool write)
    {
        ulong lbaSize = HiddenTail.LbaSize;
        ulong start = lba * lbaSize, end = (lba + blocks) * lbaSize;
        ulong imageSize = ChunkFetcher.ImageSize, chunkSize = ChunkFetcher.ChunkSize;
        if (start >= imageSize)
            return true;   // past the image: the guest's own space
        ulong first = start / chunkSize, last = ((end < imageSize ? end : imageSize) - 1) / chunkSize;
        // A FUA write must be covered by the commit made before it is forwarded,
        // which cannot wait for its completion: its chunks are fetched first.
        bool claims = write && !IsFua(command);
        // Runs of chunks to fetch, each run one fetch (one AoE read while it fits the fetcher's buffer).
        for (ulong c = first; c <= last; c++)
        {
            if (!NeedsFetch(c, start, end, claims))
                continue;
            ulong runEnd = c;
            while (runEnd < last && NeedsFetch(runEnd + 1, start, end, claims))
                runEnd++;
            ulong ahead = write || runEnd != last ? 0 : ReadAhead.For(c, runEnd - c + 1);
            if (!Fetch(c, runEnd - c + 1, ahead))
                return false;
            c = runEnd;
        }
        if (!write)
            return true;
        for (ulong c = first; c <= last; c++)
        {
            if (ChunkMap.IsPresent(c))
            {
                ChunkMap.MarkWritten(c);
                continue;
            }
            ulong runEnd = c;
            while (runEnd < last && !ChunkMap.IsPresent(runEnd + 1))
                runEnd++;
            if (!Claim(queue, command->CommandId, c, runEnd))
                return false;
            c = runEnd;
        }
        return true;
    }

    private static bool IsFua(NvmeCommand* command) =>
        (command->Opcode == NvmeCommand.IoWrite || command->Opcode == NvmeCommand.IoWriteZeroes) && command->ForceUnitAccess;

    private static bool NeedsFetch(ulong chunk, ulong start, ulong end, bool claims) =>
        !ChunkMap.IsPresent(chunk) && !(claims && Covers(start, end, chunk));

    private static bool Claim(ushort queue, ushort commandId, ulong first, ulong last)
    {
        bool recorded = PendingWrites.TryRecord(queue, commandId, first, last);
        if (!recorded && !Fetch(first, last - first + 1))
            return false;
        for (ulong c = first; c <= last; c++)
        {
            if (recorded)
                StreamEvents.GuestOwned++;
            ChunkMap.MarkPresent(c);
            ChunkMap.MarkWritten(c);
        }
        return true;
    }

    // first..first+count-1 are needed, the ahead chunks after them only read ahead.
    private static bool Fetch(ulong first, ulong count, ulong ahead = 0)
    {
        FetchFailure failure = ChunkFetcher.MakePresent(first, count + ahead, false, out ulong failed);
        if (failure == FetchFailure.None || failed >= first + count)
            return true;   // at most the read-ahead failed: fetched again when the guest needs it
        StreamEvents.Error(failure, failed);
        return false;
    }

    private static bool Covers(ulong start, ulong end, ulong chunk)
    {
        ulong chunkStart = chunk * ChunkFetcher.ChunkSize;
        ulong chunkEnd = chunkStart + ChunkFetcher.ChunkSize;
        if (chunkEnd > ChunkFetcher.ImageSize)
            chunkEnd = ChunkFetcher.ImageSize;
        return start <= chunkStart && end >= chunkEnd;
    }

    // Dataset Management's ranges live in its data buffer (guest memory).
    private static bool PrepareDeallocate(ushort queue, NvmeCommand* command)
    {
        for (uint i = 0; i < command->RangeCount; i++)
        {
            ulong length = DatasetRanges.Length(command, i);
            if (length != 0 && !Prepare(queue, command, DatasetRanges.StartingLba(command, i), length, true))
                return false;
        }
        return true;
    }
}
