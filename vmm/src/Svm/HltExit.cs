namespace Bmcast.Vmm.Svm;

// The guest idles (HLT, intercepted only while a device wants idle time).
// The HLT is retired, not carried out: the guest continues after it at once,
// as after a wake-up it could not tell from a spurious one (Linux's idle
// loop checks for work and halts again), so a pending interrupt is never
// held up. The device's idle work runs first, for a bounded slice; once it
// has none left it stops the intercept, and HLT halts the bare CPU again.
// While the device has nothing to do until the guest's next interrupt (the
// guest waits for its own I/O), retiring HLTs would only spin the guest's
// idle loop through exits: HaltUntilInterrupt lets its HLTs halt the CPU and
// intercepts the interrupt that wakes it instead (one exit, at which HLTs are
// intercepted again; the interrupt stays pending in the APIC, GIF=0, and the
// VMRUN that follows delivers it).
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

    public static void HaltUntilInterrupt(Vcpu* vcpu) =>
        vcpu->Vmcb->InterceptMisc1 = vcpu->Vmcb->InterceptMisc1 & ~Intercept.Hlt | Intercept.Intr;

    // The interrupt exit HaltUntilInterrupt asked for.
    public static void Woken(Vcpu* vcpu) =>
        vcpu->Vmcb->InterceptMisc1 = vcpu->Vmcb->InterceptMisc1 & ~Intercept.Intr | Intercept.Hlt;
}
