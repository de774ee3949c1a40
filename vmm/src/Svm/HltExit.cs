namespace Bmcast.Vmm.Svm;

// The guest idles (HLT, intercepted only while a device wants idle time).
// The HLT is retired, not carried out: the guest continues after it at once,
// as after a wake-up it could not tell from a spurious one (Linux's idle
// loop checks for work and halts again), so a pending interrupt is never
// held up. The device's idle work runs first, for a bounded slice; once it
// has none left it stops the intercept, and HLT halts the bare CPU again.
internal static unsafe class HltExit
{
    private const byte HltOpcode = 0xF4;

    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        if (GuestInstruction.ReadByte(vmcb, vmcb->Rip) != HltOpcode)
            Platform.Panic.Halt("HLT exit, but no HLT at guest rip", vmcb->Rip);
        GuestInstruction.Retire(vmcb, vmcb->Rip + 1);
        vcpu->Traps.Idle(vcpu);
    }

    public static void StopIntercepting(Vcpu* vcpu) => vcpu->Vmcb->InterceptMisc1 &= ~Intercept.Hlt;
}
