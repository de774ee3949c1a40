using Bmcast.Vmm.Platform;
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
        ExitCounters* e = &vcpu->Exits;
        Serial.Write("bmcast-vmm: exits total=");
        Serial.WriteDecimal(e->Total);
        Serial.Write(" cpuid=");
        Serial.WriteDecimal(e->Cpuid);
        Serial.Write(" msr=");
        Serial.WriteDecimal(e->Msr);
        Serial.Write(" io=");
        Serial.WriteDecimal(e->Io);
        Serial.Write(" vmrun=");
        Serial.WriteDecimal(e->Vmrun);
        Serial.WriteLine();
    }
}
