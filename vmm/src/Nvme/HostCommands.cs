namespace Bmcast.Vmm.Nvme;

// The hypervisor's own commands, one at a time on a queue pair nobody else
// is using at that moment (the guest's admin queue right after the guest
// enabled the controller, or the private I/O pair): submit at the tail, ring,
// poll the completion at the head, consume it, ring the head.
internal static unsafe class HostCommands
{
    private static ushort s_nextId;

    // False on timeout (reported); otherwise *completion holds the answer.
    public static bool Execute(ushort queue, NvmeCommand* command, NvmeCompletion* completion, string what)
    {
        SubmissionQueue* sq = QueueTable.Submission(queue);
        CompletionQueue* cq = QueueTable.Completion(queue);
        command->CommandId = (ushort)(0xB000 | (s_nextId++ & 0xFFF));   // no guest command is outstanding
        *sq->At(sq->Tail) = *command;
        sq->Tail = (ushort)sq->Next(sq->Tail);
        Controller.RingSubmission(queue, sq->Tail);

        NvmeCompletion* entry = cq->WaitFor(queue, command->CommandId);
        if (entry == null)
        {
            Controller.ReportTimeout(what);
            return false;
        }
        *completion = *entry;
        sq->Head = entry->SubmissionHead;
        var index = (uint)(entry - cq->At(0));   // at the head, on an idle queue
        cq->ConsumedTo(index + 1 == cq->Entries ? 0 : index + 1);
        Controller.RingCompletion(queue, cq->Head);
        return true;
    }
}
