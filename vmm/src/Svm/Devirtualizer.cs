using System.Runtime;
using System.Runtime.CompilerServices;
using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// De-virtualization: the guest continues on bare hardware, SVM off, with no
// exits ever after. The difficulty is the last CR3 load: the instruction
// after it is fetched through the guest's page tables, which do not map
// the hypervisor. So for a moment both address spaces get the host's
// identity tables in one free top-level slot (Linux keeps the first kernel
// slot, its "hypervisor guard hole", free); svm_leave runs from that alias,
// and unmaps it from the guest just before IRETQ. The host's paging depth
// is first made to match the guest's (Linux uses 5 levels where the CPU has
// LA57; the firmware, and so the host, 4), which long mode only allows
// through a short trip with paging off.
internal static unsafe class Devirtualizer
{
    private const ulong La57 = 1ul << 12, FrameMask = 0x000FFFFFFFFFF000, Present = 1;
    private const ulong LongModeActive = 1ul << 10, PagingEnabled = 1ul << 31;
    private const int FirstKernelSlot = 256;

    [RuntimeImport("*", "svm_leave")] [MethodImpl(MethodImplOptions.InternalCall)]
    private static extern void SvmLeave(LeaveFrame* frame, ulong slotBase);

    public static ulong PagesNeeded => 2;   // the frame with its stack, the host's 5-level root

    public static void Leave(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        bool fiveLevels = (vmcb->Cr4 & La57) != 0;
        MatchPagingDepth(vcpu, fiveLevels);

        var hostTop = (ulong*)(Cpu.ReadCr3() & FrameMask);
        var guestTop = (ulong*)(vmcb->Cr3 & FrameMask);
        int slot = FreeSlot(hostTop, guestTop);
        if (slot < 0)
            Panic.Halt("no free top-level slot in the guest's page table at cr3", vmcb->Cr3);
        // Canonical: the slot index fills the top-level bits, everything above is ones.
        ulong slotBase = (fiveLevels ? 0xFE00000000000000ul : 0xFFFF000000000000ul) | ((ulong)slot << (fiveLevels ? 48 : 39));
        hostTop[slot] = hostTop[0];   // entry 0 maps all of low memory, the hypervisor included
        guestTop[slot] = hostTop[0];

        LeaveFrame* frame = vcpu->LeaveFrame;
        Fill(frame, vcpu);
        frame->FxArea = slotBase + (ulong)vcpu->Registers.GuestFxArea;
        frame->StackTop = slotBase + (ulong)frame + ReservedMemory.PageSize;
        frame->SlotEntry = slotBase + (ulong)&guestTop[slot];

        vcpu->Exits.Report();
        Serial.Write("bmcast-vmm: event=devirtualized exits=");
        Serial.WriteDecimal(vcpu->Exits.Total);
        Serial.WriteLine();
        Serial.Write("bmcast-vmm: de-virtualized at guest rip ");
        Serial.WriteHex(vmcb->Rip);
        Serial.WriteLine(": SVM off, no exits from here on");
        SvmLeave((LeaveFrame*)(slotBase + (ulong)frame), slotBase);
    }

    // Whether Leave can run at this exit: the guest in long mode with paging
    // (Linux, not the firmware's early phases), with a top-level slot free
    // in both its page table and the host's (checked with the host's tables
    // at their current depth; Leave matches the depth first, and the host's
    // 4- and 5-level roots both start with the same identity entry).
    public static bool CanLeave(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        if ((vmcb->Efer & LongModeActive) == 0 || (vmcb->Cr0 & PagingEnabled) == 0)
            return false;
        return FreeSlot((ulong*)(Cpu.ReadCr3() & FrameMask), (ulong*)(vmcb->Cr3 & FrameMask)) >= 0;
    }

    private static int FreeSlot(ulong* hostTop, ulong* guestTop)
    {
        for (int slot = FirstKernelSlot; slot < 512; slot++)
        {
            if (((hostTop[slot] | guestTop[slot]) & Present) == 0)
                return slot;
        }
        return -1;
    }

    private static void MatchPagingDepth(Vcpu* vcpu, bool fiveLevels)
    {
        ulong cr4 = Cpu.ReadCr4();
        if (((cr4 & La57) != 0) == fiveLevels)
            return;
        if (fiveLevels && vcpu->Host.Pml5 == 0)
            Panic.Halt("guest uses 5-level paging but the host has no 5-level tables");
        Cpu.SetPaging(fiveLevels ? vcpu->Host.Pml5 : vcpu->Host.Pml4,
            fiveLevels ? cr4 | La57 : cr4 & ~La57, vcpu->Host.Code32Selector);
    }

    private static void Fill(LeaveFrame* f, Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        GuestRegisters* r = &vcpu->Registers;
        f->Rax = vmcb->Rax;
        f->Rcx = r->Rcx; f->Rdx = r->Rdx; f->Rbx = r->Rbx; f->Rbp = r->Rbp; f->Rsi = r->Rsi; f->Rdi = r->Rdi;
        f->R8 = r->R8; f->R9 = r->R9; f->R10 = r->R10; f->R11 = r->R11;
        f->R12 = r->R12; f->R13 = r->R13; f->R14 = r->R14; f->R15 = r->R15;
        f->Rip = vmcb->Rip;
        f->Cs = vmcb->Cs.Selector;
        f->Rflags = vmcb->Rflags;
        f->Rsp = vmcb->Rsp;
        f->Ss = vmcb->Ss.Selector;
        f->Ds = vmcb->Ds.Selector;
        f->Es = vmcb->Es.Selector;
        f->Cr0 = vmcb->Cr0;
        f->Cr2 = vmcb->Cr2;
        f->Cr3 = vmcb->Cr3;
        f->Cr4 = vmcb->Cr4;
        f->Dr7 = vmcb->Dr7;
        f->Efer = vmcb->Efer & ~SvmSupport.EferSvme;
        f->Pat = vmcb->GuestPat;
        f->GdtrLimit = (ushort)vmcb->Gdtr.Limit;
        f->GdtrBase = vmcb->Gdtr.Base;
        f->IdtrLimit = (ushort)vmcb->Idtr.Limit;
        f->IdtrBase = vmcb->Idtr.Base;
    }
}
