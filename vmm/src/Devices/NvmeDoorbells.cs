using System.Runtime.InteropServices;
using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// The NVMe controller's doorbell page (BAR0 + 0x1000), the one place stage 2
// mediates the disk. On a submission-queue tail write the new commands are
// in the guest's queue memory, not yet seen by the controller: stage 2 will
// hold the doorbell there until every block they read is present. For now
// the device reads them, follows queue creation on the admin queue, counts
// reads and writes, and lets the core forward every doorbell unchanged.
internal static unsafe class NvmeDoorbells
{
    private const ulong DoorbellPage = 0x1000;
    private const ulong AdminQueueAttributes = 0x24, AdminSubmissionQueueBase = 0x28;   // BAR0 registers
    private const int MaxQueues = 256;

    [StructLayout(LayoutKind.Sequential)]
    private struct SubmissionQueue
    {
        public ulong Base;     // guest physical = host physical (identity nested paging)
        public uint Entries;
        public uint Tail;      // the tail the controller has been told
    }

    private static ulong s_bar0;
    private static int s_strideShift;              // doorbell stride = 4 << CAP.DSTRD
    private static SubmissionQueue* s_queues;      // by queue id; Base 0 = not known
    private static ulong s_reads, s_readBlocks, s_writes, s_writeBlocks, s_untracked;

    public const ulong StatePages = 1;   // MaxQueues * 16 bytes

    public static MmioTrap Trap(ulong bar0, byte* state)
    {
        s_bar0 = bar0;
        ulong capabilities = *(ulong*)bar0;   // read before launch, on the firmware's identity map
        s_strideShift = 2 + (int)((capabilities >> 32) & 0xF);
        s_queues = (SubmissionQueue*)state;
        return new MmioTrap { Page = bar0 + DoorbellPage, Access = &Access };
    }

    public static void Report()
    {
        Serial.Write("bmcast-vmm: nvme: reads=");
        Serial.WriteDecimal(s_reads);
        Serial.Write(" read-lbas=");
        Serial.WriteDecimal(s_readBlocks);
        Serial.Write(" writes=");
        Serial.WriteDecimal(s_writes);
        Serial.Write(" write-lbas=");
        Serial.WriteDecimal(s_writeBlocks);
        Serial.Write(" untracked-doorbells=");
        Serial.WriteDecimal(s_untracked);
        Serial.WriteLine();
    }

    private static TrapResult Access(Vcpu* vcpu, uint offset, int size, bool write, ulong* value)
    {
        uint doorbell = offset >> s_strideShift;
        if (write && doorbell % 2 == 0)   // even: SQ tail, odd: CQ head
            Submitted(doorbell / 2, (uint)*value);
        return TrapResult.Passthrough;
    }

    private static void Submitted(uint queueId, uint newTail)
    {
        if (queueId == 0)
            FollowAdminQueue();
        SubmissionQueue* q = queueId < MaxQueues ? &s_queues[queueId] : null;
        if (q == null || q->Base == 0 || newTail >= q->Entries)
        {
            s_untracked++;   // created before we watched, or not a queue we know
            return;
        }
        for (uint i = q->Tail; i != newTail; i = (i + 1) % q->Entries)
        {
            var command = (NvmeCommand*)(q->Base + 64ul * i);
            if (queueId == 0)
                Admin(command);
            else
                Io(command);
        }
        q->Tail = newTail;
    }

    // The admin queue's place is in controller registers, which the guest
    // rewrites when it resets the controller: a new base means a reset, after
    // which no queue exists and every tail starts at 0.
    private static void FollowAdminQueue()
    {
        ulong adminBase = *(ulong*)(s_bar0 + AdminSubmissionQueueBase) & ~0xFFFul;
        if (adminBase == s_queues[0].Base)
            return;
        Memory.Zero((byte*)s_queues, (nuint)(MaxQueues * sizeof(SubmissionQueue)));
        s_queues[0].Base = adminBase;
        s_queues[0].Entries = (*(uint*)(s_bar0 + AdminQueueAttributes) & 0xFFF) + 1;
    }

    private static void Admin(NvmeCommand* command)
    {
        if (command->Opcode != NvmeCommand.AdminCreateIoSubmissionQueue || command->QueueId >= MaxQueues)
            return;
        SubmissionQueue* q = &s_queues[command->QueueId];
        q->Base = command->Prp1;
        q->Entries = command->QueueEntries;
        q->Tail = 0;
    }

    private static void Io(NvmeCommand* command)
    {
        if (command->Opcode == NvmeCommand.IoRead)
        {
            s_reads++;
            s_readBlocks += command->BlockCount;
        }
        else if (command->Opcode == NvmeCommand.IoWrite)
        {
            s_writes++;
            s_writeBlocks += command->BlockCount;
        }
    }
}
