using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// The guest's admin commands, seen at the admin doorbell before the
// controller fetches them. A few are rewritten (Rewrite, before the doorbell
// is forwarded) and a few answers patched (PatchAnswer, after it, polled in
// the same exit, so the guest never sees them unpatched):
// - Doorbell Buffer Config (0x7C) becomes a reserved opcode and fails, and
//   Identify Controller loses OACS bit 8: with shadow doorbells the controller
//   would read submission tails from guest memory, and commands would run
//   without ever passing the doorbell trap. (bmcast.vmm.nvme-dbbuf=advertise
//   leaves OACS alone, so that the guest tries and the refusal is seen;
//   =allow lets both through: the negative control of the ordering check.)
// - Set Features (Number of Queues) becomes Get Features (QEMU refuses a
//   second Set; the hypervisor's came first), and the Number of Queues
//   answer grants one queue fewer than the controller does: the last is the
//   hypervisor's. Creating or deleting that queue is refused (queue id 0 is
//   invalid for both, so the controller answers Invalid Queue Identifier).
// - Identify Namespace answers shrink by the hidden tail, and while a tail
//   is hidden the commands that would erase or remove a namespace whole,
//   tail included (Format NVM, Sanitize, Namespace Management and
//   Attachment), become the reserved opcode and fail (Invalid Command
//   Opcode), as I/O commands into the tail do (HiddenTailGuard).
// Queue creation and deletion are followed here too.
internal static unsafe class GuestAdminCommands
{
    private const uint OptionalAdminCommandsOffset = 256;   // OACS in Identify Controller
    private const byte DoorbellBufferConfigSupported = 1;   // OACS bit 8, in its second byte

    private static DoorbellBufferPolicy s_doorbellBuffer;
    private static ulong s_doorbellBufferRefused, s_queueRefused, s_eraseRefused;

    public static void SetDoorbellBufferPolicy(DoorbellBufferPolicy policy) => s_doorbellBuffer = policy;

    public static void Rewrite(NvmeCommand* command)
    {
        switch (command->Opcode)
        {
            case NvmeCommand.AdminDoorbellBufferConfig:
                if (s_doorbellBuffer != DoorbellBufferPolicy.Allow)
                {
                    command->Opcode = NvmeCommand.AdminReserved;
                    s_doorbellBufferRefused++;
                }
                break;
            case NvmeCommand.AdminSetFeatures:
                if (command->FeatureId == NvmeCommand.FeatureNumberOfQueues)
                {
                    command->Opcode = NvmeCommand.AdminGetFeatures;
                    command->Cdw10 = NvmeCommand.FeatureNumberOfQueues;   // current value
                }
                break;
            case NvmeCommand.AdminFormatNvm:
            case NvmeCommand.AdminSanitize:
            case NvmeCommand.AdminNamespaceManagement:
            case NvmeCommand.AdminNamespaceAttachment:
                // Whatever namespace it names (0xFFFFFFFF: all of them), it could reach the tail's.
                if (HiddenTail.Active)
                {
                    command->Opcode = NvmeCommand.AdminReserved;
                    s_eraseRefused++;
                }
                break;
            case NvmeCommand.AdminCreateIoSubmissionQueue:
            case NvmeCommand.AdminCreateIoCompletionQueue:
            case NvmeCommand.AdminDeleteIoSubmissionQueue:
            case NvmeCommand.AdminDeleteIoCompletionQueue:
                if (PrivateQueuePair.Id != 0 && command->QueueId == PrivateQueuePair.Id)
                {
                    command->Cdw10 &= 0xFFFF0000;
                    s_queueRefused++;
                }
                else
                {
                    FollowQueue(command);
                }
                break;
        }
    }

    public static void PatchAnswer(NvmeCommand* command)
    {
        bool queues = command->Opcode == NvmeCommand.AdminGetFeatures && command->FeatureId == NvmeCommand.FeatureNumberOfQueues
            && PrivateQueuePair.Id != 0;
        bool controller = command->Opcode == NvmeCommand.AdminIdentify && command->Cns == NvmeCommand.IdentifyController
            && s_doorbellBuffer == DoorbellBufferPolicy.Hide;
        bool ns = command->Opcode == NvmeCommand.AdminIdentify && command->Cns == NvmeCommand.IdentifyNamespace
            && HiddenTail.Covers(command->NamespaceId);
        if (!queues && !controller && !ns)
            return;
        NvmeCompletion* done = QueueTable.Completion(0)->WaitFor(0, command->CommandId);
        if (done == null)
        {
            Controller.ReportTimeout("a guest admin command whose answer is patched");
            return;
        }
        if (!done->Succeeded)
            return;
        if (queues)
            done->Result = PrivateQueuePair.GuestGrant;
        else if (controller)
            *GuestData.At(command, OptionalAdminCommandsOffset + 1) &= unchecked((byte)~DoorbellBufferConfigSupported);
        else
            HiddenTail.Patch(command);
    }

    public static void Report()
    {
        Serial.Write(" dbbuf-refused=");
        Serial.WriteDecimal(s_doorbellBufferRefused);
        Serial.Write(" private-queue-refused=");
        Serial.WriteDecimal(s_queueRefused);
        Serial.Write(" namespace-erase-refused=");
        Serial.WriteDecimal(s_eraseRefused);
    }

    private static void FollowQueue(NvmeCommand* command)
    {
        SubmissionQueue* sq = QueueTable.Submission(command->QueueId);
        CompletionQueue* cq = QueueTable.Completion(command->QueueId);
        if (sq == null)
            return;
        switch (command->Opcode)
        {
            case NvmeCommand.AdminCreateIoSubmissionQueue:
                sq->Base = command->Prp1;
                sq->Entries = command->QueueEntries;
                sq->Tail = 0;
                sq->Head = 0;
                break;
            case NvmeCommand.AdminCreateIoCompletionQueue:
                cq->Reset(command->Prp1, command->QueueEntries);
                break;
            case NvmeCommand.AdminDeleteIoSubmissionQueue:
                *sq = default;
                break;
            default:
                *cq = default;
                break;
        }
    }
}

internal enum DoorbellBufferPolicy
{
    Hide,        // OACS bit 8 cleared and the command refused
    Advertise,   // the command refused only
    Allow,       // neither: commands can run without a doorbell exit
}
