namespace Bmcast.Vmm.Svm;

internal static unsafe class HostLoop
{
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.InternalCall)]
    [System.Runtime.RuntimeImport("*", "svm_run_guest")]
    private static extern void RunGuest(GuestRegisters* registers, ulong vmcbPhysical);

    // The host's whole life: run the guest, handle the exit, repeat.
    public static void Run(Vcpu* vcpu)
    {
        for (;;)
        {
            RunGuest(&vcpu->Registers, vcpu->VmcbPhysical);
            ExitHandler.Handle(vcpu);
        }
    }
}
