using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// CPUID as the guest sees it: the real answer, except that SVM is hidden (the
// guest must not try to nest), the hypervisor-present bit is set, and the
// hypervisor leaves name us. Leaf 0x40000001 with ECX = "devt" asks the
// hypervisor to de-virtualize: the stage-3 mechanism, triggered by the guest
// until stage 2's completion can trigger it (tests use it through Linux's
// /dev/cpu/N/cpuid). EAX = 1 acknowledges.
internal static unsafe class CpuidExit
{
    public const uint HypervisorBase = 0x40000000;
    private const uint HypervisorControl = 0x40000001, HypervisorLast = 0x400000FF;
    private const uint DevirtualizeRequest = 0x74766564;   // "devt"
    // "bmcastbmcast" as the three little-endian registers EBX, ECX, EDX.
    public const uint VendorEbx = 0x61636D62, VendorEcx = 0x6D627473, VendorEdx = 0x74736163;

    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        uint leaf = (uint)vmcb->Rax;
        uint subleaf = (uint)vcpu->Registers.Rcx;
        uint* r = stackalloc uint[4];

        if (leaf >= HypervisorBase && leaf <= HypervisorLast)
        {
            if (leaf == HypervisorControl && subleaf == DevirtualizeRequest)
            {
                r[0] = 1;
                vcpu->LeaveRequested = true;
            }
            else if (leaf == HypervisorBase)
            {
                r[0] = HypervisorControl;   // highest hypervisor leaf
                r[1] = VendorEbx;
                r[2] = VendorEcx;
                r[3] = VendorEdx;
            }
        }
        else
        {
            Cpu.CpuId(leaf, subleaf, r);
            if (leaf == 1)
                r[2] |= 1u << 31;                    // hypervisor present
            else if (leaf == 0x80000001)
                r[2] &= ~(1u << 2);                  // SVM
            else if (leaf == 0x8000000A)
                r[0] = r[1] = r[2] = r[3] = 0;       // SVM feature leaf
        }

        vmcb->Rax = r[0];
        vcpu->Registers.Rbx = r[1];
        vcpu->Registers.Rcx = r[2];
        vcpu->Registers.Rdx = r[3];
        GuestInstruction.Skip(vmcb, 0xA2);
    }
}
