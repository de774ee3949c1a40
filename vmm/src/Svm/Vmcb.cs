using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Svm;

// The virtual machine control block (AMD APM vol. 2, appendix B): control
// area at 0, state-save area at 0x400. Only the fields we use are named.
[StructLayout(LayoutKind.Explicit, Size = 4096)]
internal struct Vmcb
{
    // --- control area ---
    [FieldOffset(0x00C)] public uint InterceptMisc1;
    [FieldOffset(0x010)] public uint InterceptMisc2;
    [FieldOffset(0x040)] public ulong IopmBase;
    [FieldOffset(0x048)] public ulong MsrpmBase;
    [FieldOffset(0x058)] public uint Asid;
    [FieldOffset(0x068)] public ulong InterruptShadow;
    [FieldOffset(0x070)] public ulong ExitCode;
    [FieldOffset(0x078)] public ulong ExitInfo1;
    [FieldOffset(0x080)] public ulong ExitInfo2;
    [FieldOffset(0x088)] public ulong ExitIntInfo;
    [FieldOffset(0x090)] public ulong NestedPagingEnable;
    [FieldOffset(0x0A8)] public ulong EventInjection;
    [FieldOffset(0x0B0)] public ulong NestedCr3;

    // --- state-save area ---
    [FieldOffset(0x400)] public Segment Es;
    [FieldOffset(0x410)] public Segment Cs;
    [FieldOffset(0x420)] public Segment Ss;
    [FieldOffset(0x430)] public Segment Ds;
    [FieldOffset(0x460)] public Segment Gdtr;
    [FieldOffset(0x480)] public Segment Idtr;
    [FieldOffset(0x4CB)] public byte Cpl;
    [FieldOffset(0x4D0)] public ulong Efer;
    [FieldOffset(0x548)] public ulong Cr4;
    [FieldOffset(0x550)] public ulong Cr3;
    [FieldOffset(0x558)] public ulong Cr0;
    [FieldOffset(0x560)] public ulong Dr7;
    [FieldOffset(0x568)] public ulong Dr6;
    [FieldOffset(0x570)] public ulong Rflags;
    [FieldOffset(0x578)] public ulong Rip;
    [FieldOffset(0x5D8)] public ulong Rsp;
    [FieldOffset(0x5F8)] public ulong Rax;
    [FieldOffset(0x640)] public ulong Cr2;
    [FieldOffset(0x668)] public ulong GuestPat;
}

[StructLayout(LayoutKind.Sequential)]
internal struct Segment
{
    public ushort Selector;
    // The descriptor's attribute bits packed as the VMCB wants them:
    // bits 0-7 = descriptor byte 5 (type, S, DPL, P), bits 8-11 = AVL, L, D/B, G.
    public ushort Attributes;
    public uint Limit;
    public ulong Base;
}

// Control-area bits we set (APM vol. 2, table B-1).
internal static class Intercept
{
    // InterceptMisc1 (offset 0x00C)
    public const uint Intr = 1u << 0;
    public const uint Cpuid = 1u << 18;
    public const uint Hlt = 1u << 24;
    public const uint IoPorts = 1u << 27;
    public const uint Msrs = 1u << 28;
    public const uint Shutdown = 1u << 31;
    // InterceptMisc2 (offset 0x010)
    public const uint Vmrun = 1u << 0;
}
