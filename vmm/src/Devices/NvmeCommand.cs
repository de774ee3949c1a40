using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Devices;

// A submission queue entry (NVMe base spec 2.0 §4.2), the fields we read.
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct NvmeCommand
{
    public const byte AdminCreateIoSubmissionQueue = 0x01;
    public const byte IoWrite = 0x01, IoRead = 0x02;

    [FieldOffset(0)] public byte Opcode;
    [FieldOffset(4)] public uint NamespaceId;
    [FieldOffset(24)] public ulong Prp1;
    [FieldOffset(40)] public uint Cdw10;
    [FieldOffset(44)] public uint Cdw11;
    [FieldOffset(48)] public uint Cdw12;

    // Read/Write: starting LBA and number of logical blocks (0's based on the wire).
    public ulong StartingLba => (ulong)Cdw11 << 32 | Cdw10;
    public uint BlockCount => (Cdw12 & 0xFFFF) + 1;

    // Create I/O Submission Queue: queue id, entries (0's based on the wire).
    public ushort QueueId => (ushort)Cdw10;
    public uint QueueEntries => (Cdw10 >> 16) + 1;
}
