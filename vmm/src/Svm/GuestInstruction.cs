using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// TCG provides no next-RIP (no NRIP-save), so for CPUID, RDMSR and WRMSR we
// find the instruction's length ourselves: walk the guest's page tables to
// read the bytes at RIP (nested paging is the identity, so the guest
// physical address is the host's), skip legacy/REX prefixes, and check the
// opcode is the one the exit says it is.
internal static unsafe class GuestInstruction
{
    private const ulong PagingEnabled = 1ul << 31, La57 = 1ul << 12, LongModeActive = 1ul << 10;
    private const ulong FrameMask = 0x000FFFFFFFFFF000;

    // Advances the guest RIP past the two-byte opcode 0F <secondOpcodeByte>.
    public static void Skip(Vmcb* vmcb, byte secondOpcodeByte)
    {
        ulong rip = vmcb->Rip;
        ulong length = 0;
        byte b = ReadByte(vmcb, rip);
        while (IsPrefix(b) && length < 14)
            b = ReadByte(vmcb, rip + ++length);
        if (b != 0x0F || ReadByte(vmcb, rip + length + 1) != secondOpcodeByte)
            Panic.Halt("unexpected instruction at guest rip", rip);
        Retire(vmcb, rip + length + 2);
    }

    // The guest continues after an instruction we carried out for it.
    public static void Retire(Vmcb* vmcb, ulong nextRip)
    {
        vmcb->Rip = nextRip;
        vmcb->InterruptShadow = 0;   // a STI/MOV SS shadow ends with that instruction
    }

    private static bool IsPrefix(byte b) =>
        b == 0x66 || b == 0x67 || b == 0xF2 || b == 0xF3 || b == 0x2E || b == 0x3E ||
        b == 0x26 || b == 0x36 || b == 0x64 || b == 0x65 || (b & 0xF0) == 0x40;

    public static byte ReadByte(Vmcb* vmcb, ulong linear) => *(byte*)Translate(vmcb, linear);

    private static ulong Translate(Vmcb* vmcb, ulong linear)
    {
        if ((vmcb->Cr0 & PagingEnabled) == 0)
            return linear;
        if ((vmcb->Efer & LongModeActive) == 0)
            Panic.Halt("guest uses legacy paging; only long mode is decoded, rip", vmcb->Rip);
        int levels = (vmcb->Cr4 & La57) != 0 ? 5 : 4;
        ulong table = vmcb->Cr3 & FrameMask;
        for (int level = levels; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entry = ((ulong*)table)[(linear >> shift) & 511];
            if ((entry & 1) == 0)
                Panic.Halt("guest instruction not mapped at", linear);
            bool large = level is 2 or 3 && (entry & 0x80) != 0;
            if (large || level == 1)
            {
                ulong pageMask = (1ul << shift) - 1;
                return (entry & FrameMask & ~pageMask) | (linear & pageMask);
            }
            table = entry & FrameMask;
        }
        return 0;   // unreachable: level 1 always returns
    }
}
