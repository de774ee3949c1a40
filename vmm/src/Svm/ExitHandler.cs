using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// One flat switch over the exit code; anything we did not ask for stops the
// machine with the code on the console (BitVisor's svm_exit_code does the same).
internal static unsafe class ExitHandler
{
    public static void Handle(Vcpu* vcpu)
    {
        Vmcb* vmcb = vcpu->Vmcb;
        vcpu->Exits.Total++;
        // An event we injected was delivered by the VMRUN that led here,
        // unless this exit interrupted its delivery: then deliver it again.
        vmcb->EventInjection = (vmcb->ExitIntInfo & EventInjection.ValidBit) != 0 ? vmcb->ExitIntInfo : 0;
        switch (vmcb->ExitCode)
        {
            case ExitCode.Cpuid:
                vcpu->Exits.Cpuid++;
                CpuidExit.Handle(vcpu);
                break;
            case ExitCode.Msr:
                vcpu->Exits.Msr++;
                EferExit.Handle(vcpu);
                break;
            case ExitCode.Ioio:
                vcpu->Exits.Io++;
                IoExit.Handle(vcpu);
                break;
            case ExitCode.Hlt:
                vcpu->Exits.Hlt++;
                HltExit.Handle(vcpu);
                break;
            case ExitCode.Intr:
                vcpu->Exits.Intr++;
                HltExit.Woken(vcpu);
                break;
            case ExitCode.Vmrun:
                // SVM is hidden from the guest, so VMRUN is an invalid opcode to it.
                vcpu->Exits.Vmrun++;
                EventInjection.InvalidOpcode(vmcb);
                break;
            case ExitCode.Shutdown:
                // Bare metal would reset; so do we, after saying so.
                Serial.Write("bmcast-vmm: guest shutdown (triple fault) at rip ");
                Serial.WriteHex(vmcb->Rip);
                Serial.WriteLine(", resetting");
                vcpu->Exits.Report();
                MachineReset.Now();
                break;
            case ExitCode.NestedPageFault:
                vcpu->Exits.Mmio++;
                MmioExit.Handle(vcpu);
                break;
            case ExitCode.Invalid:
                Panic.Halt("VMRUN refused the guest state (VMEXIT_INVALID)");
                break;
            default:
                Panic.Halt("unexpected #VMEXIT code", vmcb->ExitCode);
                break;
        }
    }
}
