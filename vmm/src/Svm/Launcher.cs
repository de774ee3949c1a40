using System.Runtime;
using System.Runtime.CompilerServices;
using Bmcast.Vmm.Boot;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// Virtualizes the running CPU: after Launch returns, the caller (and the
// firmware that called it) is the guest, and the host owns the real CPU.
internal static unsafe class Launcher
{
    private const ulong HostStackPages = 16;

    // Pages Launch takes from reserved memory, besides the image copy.
    public static ulong PagesNeeded(uint physicalAddressBits) =>
        HostStackPages + 1 /*VMCB*/ + 1 /*host save*/ + 2 /*MSRPM*/ + 3 /*IOPM*/ + 2 /*FX areas*/ + 1 /*Vcpu*/
        + TrapTable.MaxMmioTraps * IdentityPageTables.PagesPerUnmap
        + HostDescriptorTables.PagesNeeded + Devirtualizer.PagesNeeded + 2 * IdentityPageTables.PagesFor(physicalAddressBits);

    [RuntimeImport("*", "svm_launch")] [MethodImpl(MethodImplOptions.InternalCall)]
    private static extern int SvmLaunch(Vmcb* vmcb, byte* hostStackTop, delegate*<Vcpu*, void> hostEntry, Vcpu* vcpu);

    public static void Launch(ref ReservedMemory memory, TrapTable traps)
    {
        uint physicalBits = SvmSupport.PhysicalAddressBits();
        byte* stackTop = memory.TakePages(HostStackPages) + HostStackPages * ReservedMemory.PageSize;
        var vmcb = (Vmcb*)memory.TakePages(1);
        ulong hostSave = (ulong)memory.TakePages(1);
        var vcpu = (Vcpu*)memory.TakePages(1);
        vcpu->Registers.GuestFxArea = memory.TakePages(1);
        vcpu->Registers.HostFxArea = memory.TakePages(1);
        vcpu->Vmcb = vmcb;
        vcpu->VmcbPhysical = (ulong)vmcb;   // identity: reserved memory is addressed physically
        vcpu->Traps = traps;
        vcpu->Host.Code32Selector = HostDescriptorTables.Build(ref memory, &vcpu->Host.Gdtr, &vcpu->Host.Idtr);
        vcpu->LeaveFrame = (LeaveFrame*)memory.TakePages(1);

        vmcb->InterceptMisc1 = Intercept.Cpuid | Intercept.IoPorts | Intercept.Msrs | Intercept.Shutdown | (traps.Idle != null ? Intercept.Hlt : 0);
        vmcb->InterceptMisc2 = Intercept.Vmrun;
        vmcb->MsrpmBase = MsrPermissionMap.Build(ref memory);
        vmcb->IopmBase = IoPermissionMap.Build(ref memory, &traps);
        vmcb->Asid = 1;
        vmcb->NestedPagingEnable = 1;
        vmcb->NestedCr3 = IdentityPageTables.Build(ref memory, physicalBits, nested: true);
        for (int i = 0; i < traps.MmioCount; i++)
            IdentityPageTables.UnmapPage(ref memory, vmcb->NestedCr3, traps.Mmio[i].Page);
        ulong hostCr3 = IdentityPageTables.Build(ref memory, physicalBits, nested: false);
        vcpu->Host.Pml4 = hostCr3;
        if (SvmSupport.HasFiveLevelPaging())
            vcpu->Host.Pml5 = IdentityPageTables.FiveLevelRoot(ref memory, hostCr3);

        // Guest state first (the firmware's CR3 and EFER with SVME set, which
        // VMRUN requires), then the host moves to its own page tables.
        SvmSupport.Enable(hostSave);
        CurrentState.CaptureInto(vmcb);
        Cpu.WriteCr3(hostCr3);
        if (SvmLaunch(vmcb, stackTop, &HostLoop.Run, vcpu) != 1)
            Panic.Halt("svm_launch returned in the host");
    }
}
