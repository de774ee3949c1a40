using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// The hypervisor's own I/O queue pair on the guest's controller, created
// through the admin channel at each controller enable: at the highest queue
// id the controller grants (the guest is granted one fewer), completion
// interrupts off, polled. Its queues and one data buffer live in reserved
// memory. The streaming policy writes fetched chunks through it.
internal static unsafe class PrivateQueuePair
{
    public const ulong Pages = 4;   // submission queue, completion queue, data buffer, PRP list
    // One command moves at most this much (16 pages: one PRP list page is
    // plenty, and every controller's MDTS allows it; QEMU's is 512 KiB).
    public const uint MaxTransferBytes = 64 * 1024;
    private const uint WantedEntries = 16;

    // The PRP list page holds one list per submission slot, so that queued commands keep theirs.
    private const uint PrpEntriesPerSlot = MaxTransferBytes / 4096;

    private static byte* s_submission, s_completion, s_buffer;
    private static ulong* s_prpList;
    private static ushort s_id;   // 0: none (not created, or creation failed)
    private static int s_queued;

    public static ushort Id => s_id;
    public static byte* Buffer => s_buffer;   // one page: Identify data, one logical block

    public static void Place(byte* pages)
    {
        s_submission = pages;
        s_completion = pages + 4096;
        s_buffer = pages + 2 * 4096;
        s_prpList = (ulong*)(pages + 3 * 4096);
    }

    // What the guest's Get Features (Number of Queues) answer becomes: both
    // counts, 0's based, one below the private queue's id.
    public static uint GuestGrant => (uint)(s_id - 2) | (uint)(s_id - 2) << 16;

    public static void Create()
    {
        s_id = 0;
        s_queued = 0;
        NvmeCompletion done;
        NvmeCommand command = default;
        command.Opcode = NvmeCommand.AdminSetFeatures;
        command.Cdw10 = NvmeCommand.FeatureNumberOfQueues;
        command.Cdw11 = 0xFFFE_FFFE;   // as many as it has (0xFFFF is not allowed)
        // A controller that already fixed the count refuses a second Set
        // (QEMU does): the Get that follows tells what it granted either way.
        AdminChannel.Execute(&command, &done, "Set Features (Number of Queues)");
        command = default;
        command.Opcode = NvmeCommand.AdminGetFeatures;
        command.Cdw10 = NvmeCommand.FeatureNumberOfQueues;
        if (!AdminChannel.Execute(&command, &done, "Get Features (Number of Queues)") || !Check(&done, "Get Features (Number of Queues)"))
            return;
        uint submission = (done.Result & 0xFFFF) + 1, completion = (done.Result >> 16) + 1;
        uint granted = submission < completion ? submission : completion;
        if (granted > QueueTable.MaxQueues - 1)
            granted = QueueTable.MaxQueues - 1;
        if (granted < 2)
        {
            Serial.WriteLine("bmcast-vmm: nvme: FAILED: the controller grants one I/O queue, none to spare for the hypervisor");
            return;
        }
        var id = (ushort)granted;
        uint entries = WantedEntries < Controller.MaxQueueEntries ? WantedEntries : Controller.MaxQueueEntries;

        Memory.Zero(s_completion, 4096);
        command = default;
        command.Opcode = NvmeCommand.AdminCreateIoCompletionQueue;
        command.Prp1 = (ulong)s_completion;
        command.Cdw10 = (entries - 1) << 16 | id;
        command.Cdw11 = 1;   // physically contiguous; interrupts off (IEN = 0)
        if (!AdminChannel.Execute(&command, &done, "Create I/O Completion Queue") || !Check(&done, "Create I/O Completion Queue"))
            return;
        command = default;
        command.Opcode = NvmeCommand.AdminCreateIoSubmissionQueue;
        command.Prp1 = (ulong)s_submission;
        command.Cdw10 = (entries - 1) << 16 | id;
        command.Cdw11 = (uint)id << 16 | 1;   // its completion queue; physically contiguous
        if (!AdminChannel.Execute(&command, &done, "Create I/O Submission Queue") || !Check(&done, "Create I/O Submission Queue"))
            return;

        SubmissionQueue* sq = QueueTable.Submission(id);
        sq->Base = (ulong)s_submission;
        sq->Entries = entries;
        sq->Tail = 0;
        sq->Head = 0;
        QueueTable.Completion(id)->Reset((ulong)s_completion, entries);
        s_id = id;
    }

    // One logical block between the buffer and the namespace, polled.
    public static bool Read(uint namespaceId, ulong lba) => Transfer(NvmeCommand.IoRead, namespaceId, lba, 1, s_buffer, "a private read");
    public static bool Write(uint namespaceId, ulong lba) => Transfer(NvmeCommand.IoWrite, namespaceId, lba, 1, s_buffer, "a private write");

    // blocks logical blocks (of the namespace's size) between data (page
    // aligned, in reserved memory: host physical = host virtual) and the
    // namespace at lba, in commands of at most MaxTransferBytes, each polled.
    public static bool WriteRange(uint namespaceId, ulong lba, ulong blocks, byte* data) =>
        Range(NvmeCommand.IoWrite, namespaceId, lba, blocks, data, "a private write");

    public static bool ReadRange(uint namespaceId, ulong lba, ulong blocks, byte* data) =>
        Range(NvmeCommand.IoRead, namespaceId, lba, blocks, data, "a private read");

    private static bool Range(byte opcode, uint namespaceId, ulong lba, ulong blocks, byte* data, string what)
    {
        ulong blockSize = HiddenTail.LbaSize;
        for (var piece = new TransferPieces(blocks, blockSize); piece.Next();)
        {
            if (!Transfer(opcode, namespaceId, lba + piece.Offset, piece.Count, data + piece.Offset * blockSize, what))
                return false;
        }
        return true;
    }

    // Write Zeroes (no data moved) over blocks logical blocks at lba.
    public static bool WriteZeroes(uint namespaceId, ulong lba, ulong blocks)
    {
        for (ulong done = 0; done < blocks;)
        {
            ulong count = blocks - done < 0x10000 ? blocks - done : 0x10000;   // NLB is 16 bits, 0's based
            NvmeCommand command = default;
            command.Opcode = NvmeCommand.IoWriteZeroes;
            command.NamespaceId = namespaceId;
            command.StartingLba = lba + done;
            command.Cdw12 = (uint)(count - 1);
            NvmeCompletion completion;
            if (!HostCommands.Execute(s_id, &command, &completion, "a private Write Zeroes") || !Check(&completion, "a private Write Zeroes"))
                return false;
            done += count;
        }
        return true;
    }

    // Makes every completed write durable (the volatile write cache, if any).
    public static bool Flush(uint namespaceId)
    {
        if (s_id == 0)
            return false;
        NvmeCommand command = default;
        command.Opcode = NvmeCommand.IoFlush;
        command.NamespaceId = namespaceId;
        NvmeCompletion done;
        return HostCommands.Execute(s_id, &command, &done, "a private Flush") && Check(&done, "a private Flush");
    }

    // A controller reset deleted the pair; the next enable creates it again.
    public static void Forget() => s_id = 0;

    // Writes queued without waiting for each (a fetched run's chunks: the
    // controller writes one while the host hashes the next), reaped later.
    // Every queued write must be reaped before any other command goes on the
    // pair: HostCommands expects an idle queue.
    public static int Queued => s_queued;

    // A write of at most MaxTransferBytes submitted without waiting, under
    // the caller's command id (unique among the queued ones, below 0xB000:
    // HostCommands' ids are 0xBxxx); false if the queue is full (reap first).
    public static bool TryQueueWrite(uint namespaceId, ulong lba, uint blocks, byte* data, ushort commandId)
    {
        if (s_id == 0)
            return false;
        SubmissionQueue* sq = QueueTable.Submission(s_id);
        if (s_queued + 1 >= (int)sq->Entries)
            return false;
        NvmeCommand command = Command(NvmeCommand.IoWrite, namespaceId, lba, blocks, data);
        command.CommandId = commandId;
        *sq->At(sq->Tail) = command;
        sq->Tail = (ushort)sq->Next(sq->Tail);
        Controller.RingSubmission(s_id, sq->Tail);
        s_queued++;
        return true;
    }

    // Waits for the next completion of a queued write and consumes it. False
    // on timeout (reported; the queued writes are given up).
    public static bool Reap(out ushort commandId, out bool succeeded)
    {
        commandId = 0;
        succeeded = false;
        CompletionQueue* cq = QueueTable.Completion(s_id);
        NvmeCompletion* entry = cq->WaitFor(s_id, CompletionQueue.AnyCommand);
        if (entry == null)
        {
            Controller.ReportTimeout("a queued private write");
            s_queued = 0;
            return false;
        }
        commandId = entry->CommandId;
        succeeded = Check(entry, "a queued private write");
        QueueTable.Submission(s_id)->Head = entry->SubmissionHead;
        var index = (uint)(entry - cq->At(0));
        cq->ConsumedTo(index + 1 == cq->Entries ? 0 : index + 1);
        Controller.RingCompletion(s_id, cq->Head);
        s_queued--;
        return true;
    }

    private static bool Transfer(byte opcode, uint namespaceId, ulong lba, uint blocks, byte* data, string what)
    {
        if (s_id == 0)
            return false;
        NvmeCommand command = Command(opcode, namespaceId, lba, blocks, data);
        NvmeCompletion done;
        return HostCommands.Execute(s_id, &command, &done, what) && Check(&done, what);
    }

    // A read or write for the submission slot at the tail. PRP1 is the first
    // page; PRP2 the second page, or a list of the pages after the first (NVMe
    // base spec 2.0 §4.1.1), in that slot's part of the list page. data is
    // page aligned.
    private static NvmeCommand Command(byte opcode, uint namespaceId, ulong lba, uint blocks, byte* data)
    {
        NvmeCommand command = default;
        command.Opcode = opcode;
        command.NamespaceId = namespaceId;
        command.Prp1 = (ulong)data;
        ulong bytes = (ulong)blocks * HiddenTail.LbaSize;
        ulong pages = (bytes + 4095) / 4096;
        if (pages == 2)
            command.Prp2 = (ulong)data + 4096;
        else if (pages > 2)
        {
            ulong* list = s_prpList + QueueTable.Submission(s_id)->Tail * PrpEntriesPerSlot;
            for (ulong i = 1; i < pages; i++)
                list[i - 1] = (ulong)data + i * 4096;
            command.Prp2 = (ulong)list;
        }
        command.StartingLba = lba;
        command.Cdw12 = blocks - 1;   // 0's based
        return command;
    }

    public static bool Check(NvmeCompletion* done, string what)
    {
        if (done->Succeeded)
            return true;
        Serial.Write("bmcast-vmm: nvme: FAILED: ");
        Serial.Write(what);
        Serial.Write(": status ");
        Serial.WriteHex(done->StatusField);
        Serial.WriteLine();
        return false;
    }
}
