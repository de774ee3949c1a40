using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Nvme;

// The controller's doorbell page (BAR0 + 0x1000), where the disk is
// mediated. A submission-queue tail write is carried out here: the new
// commands are in the guest's queue memory, not yet seen by the controller;
// admin commands are rewritten where needed (GuestAdminCommands), I/O
// commands that reach into the hidden tail refused (HiddenTailGuard) and
// the others offered to the policy (IoInterceptor), then the tail is
// forwarded, and admin answers that must be patched are polled and patched
// before the guest resumes. Completion-queue head writes pass through after
// the consumed completions are checked (SubmissionOrderCheck) and, for I/O
// queues, shown to the policy.
internal static unsafe class NvmeDoorbells
{
    private static ulong s_untracked;

    public static MmioTrap Trap(ulong bar0) => new MmioTrap { Page = bar0 + Controller.DoorbellPage, Access = &Access };

    public static void Report()
    {
        Serial.Write(" untracked-doorbells=");
        Serial.WriteDecimal(s_untracked);
    }

    private static TrapResult Access(Vcpu* vcpu, uint offset, int size, bool write, ulong* value)
    {
        if (!write)
            return TrapResult.Passthrough;
        uint doorbell = Controller.DoorbellIndex(offset);
        if (doorbell % 2 == 1)
        {
            CompletionsConsumed(doorbell / 2, (uint)*value);
            return TrapResult.Passthrough;
        }
        Submitted((ushort)(doorbell / 2), (uint)*value);
        return TrapResult.Done;
    }

    private static void Submitted(ushort queue, uint newTail)
    {
        SubmissionQueue* sq = QueueTable.Submission(queue);
        if (sq == null || !sq->Known || newTail >= sq->Entries)
        {
            s_untracked++;   // created before we watched, or not a queue we know
            Controller.RingSubmission(queue, newTail);
            return;
        }
        uint first = sq->Tail, tail = first;
        for (; tail != newTail; tail = sq->Next(tail))
        {
            NvmeCommand* command = sq->At(tail);
            if (queue == 0)
                GuestAdminCommands.Rewrite(command);
            else if (!HiddenTailGuard.Refuse(command) && IoInterceptor.Submitted(queue, command) == Verdict.Hold)
                break;
        }
        Controller.RingSubmission(queue, tail);
        sq->Tail = (ushort)tail;
        if (queue == 0)
        {
            for (uint i = first; i != tail; i = sq->Next(i))
                GuestAdminCommands.PatchAnswer(sq->At(i));
        }
    }

    private static void CompletionsConsumed(uint queue, uint newHead)
    {
        CompletionQueue* cq = QueueTable.Completion(queue);
        if (cq == null || !cq->Known || newHead >= cq->Entries)
            return;
        for (uint i = cq->Head; i != newHead; i = i + 1 == cq->Entries ? 0 : i + 1)
        {
            SubmissionOrderCheck.Consumed(cq->At(i));
            if (queue != 0)
                IoInterceptor.Completed(cq->At(i));
        }
        cq->ConsumedTo(newHead);
    }
}
