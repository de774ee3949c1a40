using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Svm;

// Everything the host needs on a #VMEXIT, in one reserved page.
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Vcpu
{
    public GuestRegisters Registers;
    public Vmcb* Vmcb;
    public ulong VmcbPhysical;
    public ushort Pm1aControlPort;
    public ExitCounters Exits;
}

[StructLayout(LayoutKind.Sequential)]
internal struct ExitCounters
{
    public ulong Total, Cpuid, Msr, Io, Vmrun;
}
