using System.Runtime;
using System.Runtime.CompilerServices;

namespace Bmcast.Vmm.Platform;

// Privileged instructions, one NASM routine each (asm/cpu.asm, Microsoft x64 ABI).
internal static unsafe class Cpu
{
    [RuntimeImport("*", "cpu_out8")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void Out8(ushort port, byte value);
    [RuntimeImport("*", "cpu_out16")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void Out16(ushort port, ushort value);
    [RuntimeImport("*", "cpu_out32")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void Out32(ushort port, uint value);
    [RuntimeImport("*", "cpu_in8")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern byte In8(ushort port);
    [RuntimeImport("*", "cpu_in16")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ushort In16(ushort port);
    [RuntimeImport("*", "cpu_in32")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern uint In32(ushort port);

    [RuntimeImport("*", "cpu_rdtsc")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadTsc();

    [RuntimeImport("*", "cpu_rdmsr")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadMsr(uint msr);
    [RuntimeImport("*", "cpu_wrmsr")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void WriteMsr(uint msr, ulong value);

    // Fills regs[0..3] with EAX, EBX, ECX, EDX.
    [RuntimeImport("*", "cpu_cpuid")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void CpuId(uint leaf, uint subleaf, uint* regs);

    [RuntimeImport("*", "cpu_read_cr0")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadCr0();
    [RuntimeImport("*", "cpu_read_cr2")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadCr2();
    [RuntimeImport("*", "cpu_read_cr3")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadCr3();
    [RuntimeImport("*", "cpu_read_cr4")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadCr4();
    [RuntimeImport("*", "cpu_write_cr3")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void WriteCr3(ulong value);
    [RuntimeImport("*", "cpu_read_dr7")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ulong ReadDr7();

    // Stores the 10-byte pseudo-descriptor (limit u16, base u64).
    [RuntimeImport("*", "cpu_sgdt")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void StoreGdtr(byte* descriptor);
    [RuntimeImport("*", "cpu_sidt")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void StoreIdtr(byte* descriptor);

    // Selector of segment register n: 0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS, 6 LDTR, 7 TR.
    [RuntimeImport("*", "cpu_read_selector")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern ushort ReadSelector(int segment);
    // LAR: access rights of a selector, 0 when the selector is not loadable.
    [RuntimeImport("*", "cpu_lar")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern uint AccessRights(ushort selector);
    // LSL: segment limit, 0 when the selector is not loadable.
    [RuntimeImport("*", "cpu_lsl")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern uint SegmentLimit(ushort selector);

    [RuntimeImport("*", "cpu_lgdt")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void LoadGdtr(byte* descriptor);
    [RuntimeImport("*", "cpu_lidt")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void LoadIdtr(byte* descriptor);

    // Vector v's host exception entry is at FaultStubs() + 16 * v (vectors 0-31).
    [RuntimeImport("*", "cpu_fault_stubs")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern byte* FaultStubs();
    [RuntimeImport("*", "cpu_set_fault_handler")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void SetFaultHandler(delegate*<ulong, ulong, ulong, void> handler);

    // Switches paging roots, CR4.LA57 included (asm/cpu.asm explains how).
    [RuntimeImport("*", "cpu_set_paging")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void SetPaging(ulong cr3, ulong cr4, ushort code32Selector);

    [RuntimeImport("*", "cpu_halt_forever")] [MethodImpl(MethodImplOptions.InternalCall)]
    public static extern void HaltForever();
}
