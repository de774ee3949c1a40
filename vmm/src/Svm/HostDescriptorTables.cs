using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// The host's own GDT and IDT. #VMEXIT restores the host's GDTR and IDTR as
// they were at VMRUN; left pointing at the firmware's tables, a fault in the
// host would vector through memory the OS has since reused. With these, a
// host exception always reaches HostFault and is reported.
internal static unsafe class HostDescriptorTables
{
    private const int ExceptionVectors = 32;
    private const byte InterruptGatePresent = 0x8E;

    // Flat 32-bit code (base 0, limit 4 GiB, D=1, G=1): Cpu.SetPaging's stop.
    private const ulong Code32Descriptor = 0x00CF9A000000FFFF;

    // Builds both tables; the pseudo-descriptors (10 bytes each) go to gdtr/idtr.
    // The GDT is the firmware's plus one 32-bit code segment, whose selector is returned.
    public static ushort Build(ref ReservedMemory memory, byte* gdtr, byte* idtr)
    {
        byte* current = stackalloc byte[16];
        Cpu.StoreGdtr(current);
        ushort firmwareSize = (ushort)((*(ushort*)current + 1 + 7) & ~7);
        byte* gdt = memory.TakePages(ReservedMemory.PagesFor((ulong)firmwareSize + 8));
        Memory.Copy(gdt, (byte*)*(ulong*)(current + 2), (nuint)(*(ushort*)current + 1));
        *(ulong*)(gdt + firmwareSize) = Code32Descriptor;
        *(ushort*)gdtr = (ushort)(firmwareSize + 8 - 1);
        *(ulong*)(gdtr + 2) = (ulong)gdt;

        byte* idt = memory.TakePages(1);
        ushort codeSelector = Cpu.ReadSelector(1);
        byte* stubs = Cpu.FaultStubs();
        for (int vector = 0; vector < ExceptionVectors; vector++)
            WriteGate(idt + 16 * vector, (ulong)(stubs + 16 * vector), codeSelector);
        *(ushort*)idtr = 16 * ExceptionVectors - 1;
        *(ulong*)(idtr + 2) = (ulong)idt;
        return firmwareSize;
    }

    public static ulong PagesNeeded => 17 + 1;   // a GDT is at most 64 KiB, plus ours; one IDT page

    private static void WriteGate(byte* gate, ulong handler, ushort selector)
    {
        *(ushort*)gate = (ushort)handler;
        *(ushort*)(gate + 2) = selector;
        gate[4] = 0;                                   // IST
        gate[5] = InterruptGatePresent;
        *(ushort*)(gate + 6) = (ushort)(handler >> 16);
        *(uint*)(gate + 8) = (uint)(handler >> 32);
        *(uint*)(gate + 12) = 0;
    }
}
