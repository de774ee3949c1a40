using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// Watches the ACPI PM1a control register: a write with SLP_EN set is the
// guest entering a sleep state (S5 = power off), the last moment the
// hypervisor runs, so it reports its exit counts there.
internal static unsafe class AcpiPowerControl
{
    private const uint SleepEnable = 1 << 13;

    public static void BeforeWrite(Vcpu* vcpu, ushort port, uint value)
    {
        if (port != vcpu->Pm1aControlPort || (value & SleepEnable) == 0)
            return;
        vcpu->Exits.Report();
    }
}
