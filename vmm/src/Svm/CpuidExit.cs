using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// CPUID as the guest sees it: the real answer, except that SVM is hidden (the
// guest must not try to nest), the hypervisor-present bit is set, and the
// hypervisor leaves name us.
internal static unsafe class CpuidExit
{
    private const uint HypervisorBase = 0x40000000, HypervisorLast = 0x400000FF;
    // "bmcastbmcast" as the three little-endian registers EBX, ECX, EDX.
    private const uint VendorEbx = 0x61636D62, VendorEcx = 0x6D627473, VendorEdx = 0x74736163;

    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        uint leaf = (uint)vmcb->Rax;
        uint subleaf = (uint)vcpu->Registers.Rcx;
        uint* r = stackalloc uint[4];

        if (leaf >= HypervisorBase && leaf <= HypervisorLast)
        {
            if (leaf == HypervisorBase)
            {
                r[0] = HypervisorBase;   // highest hypervisor leaf
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
