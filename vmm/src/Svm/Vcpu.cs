using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Svm;

// Everything the host needs on a #VMEXIT, in one reserved page.
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Vcpu
{
    public GuestRegisters Registers;
    public Vmcb* Vmcb;
    public ulong VmcbPhysical;
    public TrapTable Traps;
    public HostTables Host;
    public LeaveFrame* LeaveFrame;
    // Set by an exit handler: leave instead of resuming the guest.
    public bool LeaveRequested;
    public ExitCounters Exits;
}

// The host's own descriptor and page tables.
[StructLayout(LayoutKind.Explicit, Size = 56)]
internal struct HostTables
{
    // 10-byte pseudo-descriptors, loaded on the host's first entry.
    [FieldOffset(0)] public byte Gdtr;
    [FieldOffset(16)] public byte Idtr;
    // Identity tables, 4-level root and (0 if the CPU lacks LA57) 5-level root.
    [FieldOffset(32)] public ulong Pml4;
    [FieldOffset(40)] public ulong Pml5;
    // A 32-bit code segment appended to the host GDT, for Cpu.SetPaging.
    [FieldOffset(48)] public ushort Code32Selector;
}
