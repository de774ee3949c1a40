using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Nvme;

// BAR0's first page: the controller registers. Every access passes through;
// a write of CC is carried out here so that its transitions can be followed:
// EN 1 -> 0 is a reset (every queue gone, admin queue included), EN 0 -> 1
// brings the admin queue up from AQA/ASQ/ACQ as the guest programmed them,
// which is the moment the hypervisor takes its private queue pair.
internal static unsafe class ControllerRegisters
{
    public static MmioTrap Trap(ulong bar0) => new MmioTrap { Page = bar0, Access = &Access };

    private static TrapResult Access(Vcpu* vcpu, uint offset, int size, bool write, ulong* value)
    {
        if (!write || offset != Controller.Configuration || size != 4)
            return TrapResult.Passthrough;
        bool wasEnabled = (Controller.Read32(Controller.Configuration) & Controller.ConfigurationEnable) != 0;
        Controller.Write32(Controller.Configuration, (uint)*value);
        bool enabled = (*value & Controller.ConfigurationEnable) != 0;
        if (wasEnabled && !enabled)
        {
            QueueTable.ForgetAll();
            PrivateQueuePair.Forget();
        }
        else if (!wasEnabled && enabled)
            NvmeMediation.ControllerEnabled();
        return TrapResult.Done;
    }
}
