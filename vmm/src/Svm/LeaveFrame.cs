using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Svm;

// The guest state svm_leave loads into the real CPU (layout shared with
// asm/cpu.asm). GPRs by x86 register number; the RSP slot is unused (RSP
// travels in the IRETQ frame). Pointers must be valid in both the host's
// and the guest's address space: Devirtualizer makes them slot aliases.
[StructLayout(LayoutKind.Explicit, Size = 296)]
internal unsafe struct LeaveFrame
{
    [FieldOffset(0)] public ulong Rax;
    [FieldOffset(8)] public ulong Rcx;
    [FieldOffset(16)] public ulong Rdx;
    [FieldOffset(24)] public ulong Rbx;
    [FieldOffset(40)] public ulong Rbp;
    [FieldOffset(48)] public ulong Rsi;
    [FieldOffset(56)] public ulong Rdi;
    [FieldOffset(64)] public ulong R8;
    [FieldOffset(72)] public ulong R9;
    [FieldOffset(80)] public ulong R10;
    [FieldOffset(88)] public ulong R11;
    [FieldOffset(96)] public ulong R12;
    [FieldOffset(104)] public ulong R13;
    [FieldOffset(112)] public ulong R14;
    [FieldOffset(120)] public ulong R15;
    [FieldOffset(128)] public ulong Rip;
    [FieldOffset(136)] public ulong Cs;
    [FieldOffset(144)] public ulong Rflags;
    [FieldOffset(152)] public ulong Rsp;
    [FieldOffset(160)] public ulong Ss;
    [FieldOffset(168)] public ulong Ds;
    [FieldOffset(176)] public ulong Es;
    [FieldOffset(184)] public ulong Cr0;
    [FieldOffset(192)] public ulong Cr2;
    [FieldOffset(200)] public ulong Cr3;
    [FieldOffset(208)] public ulong Cr4;
    [FieldOffset(216)] public ulong Dr7;
    [FieldOffset(224)] public ulong Efer;
    [FieldOffset(232)] public ulong Pat;
    [FieldOffset(240)] public ushort GdtrLimit;
    [FieldOffset(242)] public ulong GdtrBase;
    [FieldOffset(256)] public ushort IdtrLimit;
    [FieldOffset(258)] public ulong IdtrBase;
    [FieldOffset(272)] public ulong FxArea;
    [FieldOffset(280)] public ulong StackTop;
    [FieldOffset(288)] public ulong SlotEntry;
}
