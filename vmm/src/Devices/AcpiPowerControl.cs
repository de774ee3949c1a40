using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// Watches the ACPI PM1a control register: a write with SLP_EN set is the
// guest entering a sleep state (S5 = power off), the last moment the
// hypervisor runs, so it reports its exit counts (and the devices theirs) there.
internal static unsafe class AcpiPowerControl
{
    private const ulong SleepEnable = 1 << 13;

    // PM1a_CNT is 16 bits wide: both of its ports are trapped.
    public static IoTrap Trap(ushort pm1aControlPort) =>
        new IoTrap { FirstPort = pm1aControlPort, PortCount = 2, Access = &Access };

    private static TrapResult Access(Vcpu* vcpu, ushort port, int size, bool write, ulong* value)
    {
        int offset = port - vcpu->Traps.FindIo(port)->FirstPort;
        if (write && ((*value << (8 * offset)) & SleepEnable) != 0)
        {
            vcpu->Exits.Report();
            vcpu->Traps.ReportAll();
        }
        return TrapResult.Passthrough;
    }
}
