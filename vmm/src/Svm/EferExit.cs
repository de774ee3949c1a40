using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// EFER is the only MSR in the permission map. VMRUN needs EFER.SVME set in
// the guest state, but the guest believes it has no SVM: it reads SVME as 0,
// its writes keep it set, and an attempt to set it faults as on a CPU
// without SVM.
internal static unsafe class EferExit
{
    private const ulong LongModeActive = 1ul << 10;

    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        if ((uint)vcpu->Registers.Rcx != MsrPermissionMap.Efer)
            Panic.Halt("MSR exit for an MSR not in the map", vcpu->Registers.Rcx);

        bool write = vmcb->ExitInfo1 == 1;
        if (!write)
        {
            ulong value = vmcb->Efer & ~SvmSupport.EferSvme;
            vmcb->Rax = (uint)value;
            vcpu->Registers.Rdx = value >> 32;
            GuestInstruction.Skip(vmcb, 0x32);
            return;
        }

        ulong written = (vcpu->Registers.Rdx << 32) | (uint)vmcb->Rax;
        if ((written & SvmSupport.EferSvme) != 0)
        {
            EventInjection.GeneralProtection(vmcb);
            return;
        }
        // LMA is read-only: keep the CPU's.
        vmcb->Efer = (written & ~LongModeActive) | (vmcb->Efer & LongModeActive) | SvmSupport.EferSvme;
        GuestInstruction.Skip(vmcb, 0x30);
    }
}
