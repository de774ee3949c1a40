using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Nvme;

// A submission queue entry (NVMe base spec 2.0 §4.2), the fields we read or rewrite.
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct NvmeCommand
{
    // Admin opcodes (base spec 2.0 Figure 28).
    public const byte AdminDeleteIoSubmissionQueue = 0x00, AdminCreateIoSubmissionQueue = 0x01,
        AdminDeleteIoCompletionQueue = 0x04, AdminCreateIoCompletionQueue = 0x05, AdminIdentify = 0x06,
        AdminSetFeatures = 0x09, AdminGetFeatures = 0x0A, AdminNamespaceManagement = 0x0D, AdminNamespaceAttachment = 0x15,
        AdminDoorbellBufferConfig = 0x7C, AdminFormatNvm = 0x80, AdminSanitize = 0x84;
    // Reserved in the admin set, with 0x7C's data-transfer bits (none): a
    // controller answers Invalid Command Opcode without touching memory.
    public const byte AdminReserved = 0x78;
    // NVM command set I/O opcodes (NVM command set spec 1.0 Figure 17).
    public const byte IoFlush = 0x00, IoWrite = 0x01, IoRead = 0x02, IoWriteUncorrectable = 0x04, IoCompare = 0x05,
        IoWriteZeroes = 0x08, IoDatasetManagement = 0x09, IoVerify = 0x0C, IoCopy = 0x19;
    // Dataset Management: Cdw11 bit 2, Attribute - Deallocate; Cdw10 7:0, ranges (0's based).
    public const uint DeallocateAttribute = 1u << 2;
    // Identify CNS values and the Number of Queues feature.
    public const byte IdentifyNamespace = 0x00, IdentifyController = 0x01, FeatureNumberOfQueues = 0x07;

    [FieldOffset(0)] public byte Opcode;
    [FieldOffset(2)] public ushort CommandId;
    [FieldOffset(4)] public uint NamespaceId;
    [FieldOffset(24)] public ulong Prp1;
    [FieldOffset(32)] public ulong Prp2;
    [FieldOffset(40)] public uint Cdw10;
    [FieldOffset(44)] public uint Cdw11;
    [FieldOffset(48)] public uint Cdw12;

    // Read/Write: starting LBA and number of logical blocks (0's based on the wire).
    public ulong StartingLba
    {
        get => (ulong)Cdw11 << 32 | Cdw10;
        set
        {
            Cdw10 = (uint)value;
            Cdw11 = (uint)(value >> 32);
        }
    }

    public uint BlockCount => (Cdw12 & 0xFFFF) + 1;

    // Read/Write: Force Unit Access, Cdw12 bit 30 (durable when it completes).
    public bool ForceUnitAccess => (Cdw12 & (1u << 30)) != 0;

    // Dataset Management: how many 16-byte ranges its data buffer holds.
    public uint RangeCount => (Cdw10 & 0xFF) + 1;

    // Create/Delete I/O queue: queue id; create: entries (0's based on the wire).
    public ushort QueueId => (ushort)Cdw10;
    public uint QueueEntries => (Cdw10 >> 16) + 1;

    // Identify: the data structure asked for. Get/Set Features: the feature.
    public byte Cns => (byte)Cdw10;
    public byte FeatureId => (byte)Cdw10;
}
