using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// Copies the running CPU's state into the VMCB so the guest starts as an
// exact continuation of the firmware. RSP, RIP, RFLAGS and RAX are filled by
// svm_launch itself at the launch point. FS, GS, TR, LDTR and the syscall
// MSRs are not loaded by VMRUN at all: they stay in the CPU, and the host
// never touches them.
internal static unsafe class CurrentState
{
    private const uint Pat = 0x277;
    private const ulong Dr6Reset = 0xFFFF0FF0;

    public static void CaptureInto(Vmcb* vmcb)
    {
        vmcb->Es = Read(0);
        vmcb->Cs = Read(1);
        vmcb->Ss = Read(2);
        vmcb->Ds = Read(3);
        vmcb->Gdtr = ReadTable(gdt: true);
        vmcb->Idtr = ReadTable(gdt: false);
        vmcb->Cpl = 0;
        vmcb->Efer = Cpu.ReadMsr(MsrPermissionMap.Efer);
        vmcb->Cr0 = Cpu.ReadCr0();
        vmcb->Cr2 = Cpu.ReadCr2();
        vmcb->Cr3 = Cpu.ReadCr3();
        vmcb->Cr4 = Cpu.ReadCr4();
        vmcb->Dr7 = Cpu.ReadDr7();
        vmcb->Dr6 = Dr6Reset;
        vmcb->GuestPat = Cpu.ReadMsr(Pat);
    }

    private static Segment Read(int register)
    {
        ushort selector = Cpu.ReadSelector(register);
        uint rights = selector == 0 ? 0 : Cpu.AccessRights(selector);
        return new Segment
        {
            Selector = selector,
            // LAR puts descriptor byte 5 in bits 8-15 and AVL/L/D/G in 20-23.
            Attributes = (ushort)(((rights >> 8) & 0xFF) | ((rights >> 12) & 0xF00)),
            Limit = selector == 0 ? 0 : Cpu.SegmentLimit(selector),
            Base = 0,   // flat in long mode
        };
    }

    private static Segment ReadTable(bool gdt)
    {
        byte* descriptor = stackalloc byte[16];
        if (gdt)
            Cpu.StoreGdtr(descriptor);
        else
            Cpu.StoreIdtr(descriptor);
        return new Segment { Limit = *(ushort*)descriptor, Base = *(ulong*)(descriptor + 2) };
    }
}
