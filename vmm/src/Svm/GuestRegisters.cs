using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Svm;

// The guest GPRs VMRUN does not switch, by x86 register number (RAX and RSP
// are in the VMCB, their slots unused), plus the FXSAVE areas the guest's and
// the host's x87/SSE state are swapped through: the host's C# code uses XMM
// registers. Layout shared with svm_run_guest in asm/cpu.asm.
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GuestRegisters
{
    public ulong RaxSlot, Rcx, Rdx, Rbx, RspSlot, Rbp, Rsi, Rdi;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public byte* GuestFxArea;
    public byte* HostFxArea;
}
