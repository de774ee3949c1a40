using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// The hypervisor's own I/O queue pair on the guest's controller, created
// through the admin channel at each controller enable: at the highest queue
// id the controller grants (the guest is granted one fewer), completion
// interrupts off, polled. Its queues and one data buffer live in reserved
// memory. Stage b writes fetched chunks through it; stage c the presence map.
internal static unsafe class PrivateQueuePair
{
    public const ulong Pages = 3;   // submission queue, completion queue, data buffer
    private const uint WantedEntries = 16;

    private static byte* s_submission, s_completion, s_buffer;
    private static ushort s_id;   // 0: none (not created, or creation failed)

    public static ushort Id => s_id;
    public static byte* Buffer => s_buffer;   // one page: Identify data, one logical block

    public static void Place(byte* pages)
    {
        s_submission = pages;
        s_completion = pages + 4096;
        s_buffer = pages + 2 * 4096;
    }

    // What the guest's Get Features (Number of Queues) answer becomes: both
    // counts, 0's based, one below the private queue's id.
    public static uint GuestGrant => (uint)(s_id - 2) | (uint)(s_id - 2) << 16;

    public static void Create()
    {
        s_id = 0;
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
    public static bool Read(uint namespaceId, ulong lba) => Transfer(NvmeCommand.IoRead, namespaceId, lba, "a private read");
    public static bool Write(uint namespaceId, ulong lba) => Transfer(NvmeCommand.IoWrite, namespaceId, lba, "a private write");

    private static bool Transfer(byte opcode, uint namespaceId, ulong lba, string what)
    {
        if (s_id == 0)
            return false;
        NvmeCommand command = default;
        command.Opcode = opcode;
        command.NamespaceId = namespaceId;
        command.Prp1 = (ulong)s_buffer;
        command.Cdw10 = (uint)lba;
        command.Cdw11 = (uint)(lba >> 32);
        command.Cdw12 = 0;   // one block (0's based)
        NvmeCompletion done;
        return HostCommands.Execute(s_id, &command, &done, what) && Check(&done, what);
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
