using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Svm;

// Everything the host needs on a #VMEXIT, in one reserved page.
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Vcpu
{
    public GuestRegisters Registers;
    public Vmcb* Vmcb;
    public ulong VmcbPhysical;
    public IoTrap Trap;
    // Pseudo-descriptors of the host's own tables, loaded on the host's first entry.
    public HostTables Host;
    public ExitCounters Exits;
}

[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct HostTables
{
    [FieldOffset(0)] public byte Gdtr;
    [FieldOffset(16)] public byte Idtr;
}
