using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Nvme;

// What the hypervisor knows of one submission queue: where it is, the tail
// it last forwarded to the controller, and how far the controller has
// fetched (the newest SQHD it saw in a completion).
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SubmissionQueue
{
    public ulong Base;      // guest physical = host physical (identity nested paging); 0 = not known
    public uint Entries;
    public ushort Tail;
    public ushort Head;

    public bool Known => Base != 0;

    public NvmeCommand* At(uint index) => (NvmeCommand*)(Base + 64ul * index);

    public uint Next(uint index) => index + 1 == Entries ? 0 : index + 1;

    // Entries from one index forward to another, around the ring.
    public uint Distance(uint from, uint to) => to >= from ? to - from : to + Entries - from;
}
