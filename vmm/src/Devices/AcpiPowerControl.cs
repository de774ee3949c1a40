using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// Watches the ACPI PM1a control register: a write with SLP_EN set is the
// guest entering a sleep state (S5 = power off), the last moment the
// hypervisor runs, so it reports its exit counts there.
internal static unsafe class AcpiPowerControl
{
    private const uint SleepEnable = 1 << 13;

    // PM1a_CNT is 16 bits wide: both of its ports are trapped.
    public static IoTrap Trap(ushort pm1aControlPort) =>
        new IoTrap { FirstPort = pm1aControlPort, PortCount = 2, BeforeWrite = &BeforeWrite };

    private static void BeforeWrite(Vcpu* vcpu, ushort offset, uint value)
    {
        if (((value << (8 * offset)) & SleepEnable) != 0)
            vcpu->Exits.Report();
    }
}
