using System.Runtime;
using System.Runtime.CompilerServices;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

internal static unsafe class HostLoop
{
    [RuntimeImport("*", "svm_run_guest")] [MethodImpl(MethodImplOptions.InternalCall)]
    private static extern void RunGuest(GuestRegisters* registers, ulong vmcbPhysical);

    // The host's whole life: take its own descriptor tables (interrupts are
    // off since svm_launch), then run the guest, handle the exit, repeat.
    public static void Run(Vcpu* vcpu)
    {
        Cpu.SetFaultHandler(&HostFault.Report);
        Cpu.LoadGdtr(&vcpu->Host.Gdtr);
        Cpu.LoadIdtr(&vcpu->Host.Idtr);
        for (;;)
        {
            RunGuest(&vcpu->Registers, vcpu->VmcbPhysical);
            ExitHandler.Handle(vcpu);
            if (vcpu->LeaveRequested)
                Devirtualizer.Leave(vcpu);
        }
    }
}
