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

    // Builds both tables; the pseudo-descriptors (10 bytes each) go to gdtr/idtr.
    public static void Build(ref ReservedMemory memory, byte* gdtr, byte* idtr)
    {
        byte* current = stackalloc byte[16];
        Cpu.StoreGdtr(current);
        ushort gdtLimit = *(ushort*)current;
        byte* gdt = memory.TakePages(ReservedMemory.PagesFor((ulong)gdtLimit + 1));
        Memory.Copy(gdt, (byte*)*(ulong*)(current + 2), (nuint)gdtLimit + 1);
        *(ushort*)gdtr = gdtLimit;
        *(ulong*)(gdtr + 2) = (ulong)gdt;

        byte* idt = memory.TakePages(1);
        ushort codeSelector = Cpu.ReadSelector(1);
        byte* stubs = Cpu.FaultStubs();
        for (int vector = 0; vector < ExceptionVectors; vector++)
            WriteGate(idt + 16 * vector, (ulong)(stubs + 16 * vector), codeSelector);
        *(ushort*)idtr = 16 * ExceptionVectors - 1;
        *(ulong*)(idtr + 2) = (ulong)idt;
    }

    public static ulong PagesNeeded => 16 + 1;   // a GDT is at most 64 KiB; one IDT page

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
