using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Nvme;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Shared;

namespace Bmcast.Vmm.Streaming;

// The presence map's copy on disk, in the hidden tail (PresenceMapFormat:
// two slots written alternately). Loaded at the first controller enable,
// before the guest can submit anything: a deployment cut off by a power
// failure resumes from it, and nothing it lists is fetched again. It never
// lists a chunk claimed by a guest write not yet seen complete. Committed
// as the hosted engine does: the data first (a Flush through the private
// pair), then the map into the older slot, then another Flush; before a
// guest's FLUSH (or FUA write) is forwarded while chunks became present
// since the last commit, and otherwise at least once a second while there
// are exits to do it in (doorbells, HLTs).
internal static unsafe class PresenceStore
{
    private const ulong CommitIntervalMs = 1000;

    private static byte* s_slot;   // SlotBytes: the encode and read-back buffer
    private static byte* s_root;   // the manifest's root hash
    private static uint s_chunkSize;
    private static ulong s_sequence, s_lastCommit;
    private static bool s_loaded, s_unusable;

    public static ulong PagesFor(ulong chunks) => ReservedMemory.PagesFor(PresenceMapFormat.SlotBytes(chunks));

    public static void Attach(byte* slot, byte* imageRoot, uint chunkSize)
    {
        s_slot = slot;
        s_root = imageRoot;
        s_chunkSize = chunkSize;
    }

    // At each controller enable: the first one reads both slots back.
    public static void ControllerEnabled()
    {
        PendingWrites.Abandon();   // the reset deleted the queues their completions would come on
        if (s_loaded || PrivateQueuePair.Id == 0 || HiddenTail.Namespace == 0)
            return;
        s_loaded = true;
        ulong chunks = ChunkMap.Chunks, slotBytes = PresenceMapFormat.SlotBytes(chunks);
        if (PresenceMapFormat.Slots * slotBytes > HiddenTail.HiddenLbas * HiddenTail.LbaSize)
        {
            s_unusable = true;   // a tail too small for the map: streaming goes on, without resume
            StreamEvents.Error(FetchFailure.Map, chunks);
            return;
        }
        ulong best = 0;
        int bestSlot = -1;
        for (int slot = 0; slot < PresenceMapFormat.Slots; slot++)
        {
            ulong sequence;
            if (Transfer(slot, false) && PresenceMapFormat.TryDecode(s_slot, chunks, s_chunkSize, s_root, out sequence) && (bestSlot < 0 || sequence > best))
            {
                best = sequence;
                bestSlot = slot;
            }
        }
        if (bestSlot >= 0 && Transfer(bestSlot, false))
        {
            ChunkMap.Merge(s_slot + PresenceMapFormat.HeaderBytes);
            s_sequence = best;
        }
        ChunkMap.Dirty = false;
        s_lastCommit = Clock.Now;
        StreamEvents.Resumed(s_sequence);
    }

    public static void CommitIfDue()
    {
        if (ChunkMap.Dirty && Clock.MsSince(s_lastCommit) >= CommitIntervalMs)
            Commit();
    }

    // Data flushed, map written, flushed; false (and an error event) if any step failed.
    public static bool Commit()
    {
        PendingWrites.CollectPosted();
        if (!ChunkMap.Dirty || s_unusable)
            return true;   // nothing new; or no room for a map, so nothing to keep (no resume)
        if (!s_loaded || PrivateQueuePair.Id == 0)
            return false;
        s_lastCommit = Clock.Now;
        uint ns = HiddenTail.Namespace;
        ulong chunks = ChunkMap.Chunks;
        Memory.Zero(s_slot, (nuint)PresenceMapFormat.SlotBytes(chunks));
        byte* map = s_slot + PresenceMapFormat.HeaderBytes;
        Memory.Copy(map, ChunkMap.PresentBits, (nuint)PresenceMapFormat.MapBytes(chunks));
        PendingWrites.Unclaim(map);   // written by a guest command not yet seen complete
        PresenceMapFormat.Encode(s_slot, map, chunks, s_chunkSize, s_sequence + 1, s_root);
        if (!PrivateQueuePair.Flush(ns) || !Transfer((int)((s_sequence + 1) % PresenceMapFormat.Slots), true) || !PrivateQueuePair.Flush(ns))
        {
            StreamEvents.Error(FetchFailure.Map, chunks);
            return false;
        }
        s_sequence++;
        ChunkMap.Dirty = false;
        StreamEvents.Commits++;
        return true;
    }

    private static bool Transfer(int slot, bool write)
    {
        ulong lbaSize = HiddenTail.LbaSize, slotBytes = PresenceMapFormat.SlotBytes(ChunkMap.Chunks);
        ulong lba = HiddenTail.FirstHiddenLba + (ulong)slot * slotBytes / lbaSize;
        return write
            ? PrivateQueuePair.WriteRange(HiddenTail.Namespace, lba, slotBytes / lbaSize, s_slot)
            : PrivateQueuePair.ReadRange(HiddenTail.Namespace, lba, slotBytes / lbaSize, s_slot);
    }
}
