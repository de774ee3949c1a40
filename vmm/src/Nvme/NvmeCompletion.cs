using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Nvme;

// A completion queue entry (NVMe base spec 2.0 §4.6). The device writes it
// while the host polls, so the word holding the phase tag is read volatile,
// and before the others.
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct NvmeCompletion
{
    [FieldOffset(0)] public uint Result;          // command specific (DW0)
    [FieldOffset(8)] public ushort SubmissionHead; // SQHD: how far the controller has fetched that queue
    [FieldOffset(10)] public ushort SubmissionQueueId;
    [FieldOffset(12)] public ushort CommandId;
    [FieldOffset(14)] public volatile ushort StatusAndPhase;

    public uint Phase => (uint)StatusAndPhase & 1;
    // Status Code and Status Code Type (bits 11:1) both zero.
    public bool Succeeded => ((StatusAndPhase >> 1) & 0x7FF) == 0;
    public uint StatusField => (uint)StatusAndPhase >> 1;
}
