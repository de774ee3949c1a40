using System.Runtime.InteropServices;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// What the hypervisor knows of one completion queue: where it is, and the
// consumer's head and the phase tag that new entries there carry (it starts
// at 1 and flips at each wrap, NVMe base spec 2.0 §4.6).
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CompletionQueue
{
    public ulong Base;      // 0 = not known
    public uint Entries;
    public ushort Head;
    public ushort Phase;

    public bool Known => Base != 0;

    public NvmeCompletion* At(uint index) => (NvmeCompletion*)(Base + 16ul * index);

    public void Reset(ulong queueBase, uint entries)
    {
        Base = queueBase;
        Entries = entries;
        Head = 0;
        Phase = 1;
    }

    // The consumer moved its head (a doorbell write, or the host itself).
    // Only a wrap moves it backwards: a consumer cannot go a whole ring at once.
    public void ConsumedTo(uint newHead)
    {
        if (newHead < Head)
            Phase ^= 1;
        Head = (ushort)newHead;
    }

    // WaitFor's commandId for the first completion of any of the queue's
    // commands (NVMe reserves FFFFh: no command carries it).
    public const ushort AnyCommand = 0xFFFF;

    // The completion of command (queue, id) posted at or after Head, not
    // consumed: polled until the controller writes it (bounded in time);
    // null on timeout, fatal status, or if the whole ring holds other
    // entries. CSTS is read only every CheckEvery polls: under QEMU each
    // register read takes the big lock that the emulated controller needs to
    // make progress, and a tight register poll starved it on a loaded host.
    public NvmeCompletion* WaitFor(ushort submissionQueue, ushort commandId)
    {
        const ulong CheckEvery = 1024;
        uint index = Head, phase = Phase;
        ulong started = Clock.Now;
        for (ulong polls = 1; ; polls++)
        {
            NvmeCompletion* entry = At(index);
            if (entry->Phase != phase)
            {
                if (polls % CheckEvery == 0 && (Controller.Failed || Clock.MsSince(started) >= Controller.CompletionWaitMs))
                    return null;
                continue;
            }
            if (entry->SubmissionQueueId == submissionQueue && (entry->CommandId == commandId || commandId == AnyCommand))
                return entry;
            index = index + 1 == Entries ? 0 : index + 1;
            if (index == 0)
                phase ^= 1;
            if (index == Head)
                return null;
        }
    }
}
