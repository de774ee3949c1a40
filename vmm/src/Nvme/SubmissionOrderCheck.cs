using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// Proves that every command passed the doorbell trap before it ran. Each
// completion carries SQHD, how far the controller had fetched its submission
// queue; it can never be past the last tail the hypervisor forwarded, unless
// the controller learnt a tail some other way (shadow doorbells). Checked on
// the completions the guest consumes, at each completion-queue head doorbell.
// Commands found to have run unseen are counted, and skipped by the next
// doorbell scan (they already ran).
internal static unsafe class SubmissionOrderCheck
{
    private static ulong s_checked, s_unseen;

    public static void Consumed(NvmeCompletion* completion)
    {
        SubmissionQueue* sq = QueueTable.Submission(completion->SubmissionQueueId);
        uint head = completion->SubmissionHead;
        if (sq == null || !sq->Known || head >= sq->Entries)
            return;
        s_checked++;
        if (sq->Distance(sq->Head, head) > sq->Distance(sq->Head, sq->Tail))
        {
            s_unseen += sq->Distance(sq->Tail, head);
            sq->Tail = (ushort)head;
        }
        sq->Head = (ushort)head;
    }

    public static void Report()
    {
        Serial.Write(" completions-checked=");
        Serial.WriteDecimal(s_checked);
        Serial.Write(" unseen-commands=");
        Serial.WriteDecimal(s_unseen);
    }
}
