using System.Runtime.InteropServices;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

[StructLayout(LayoutKind.Sequential)]
internal struct ExitCounters
{
    public ulong Total, Cpuid, Msr, Io, Mmio, Vmrun, Hlt, Intr;

    public void Report()
    {
        Serial.Write("bmcast-vmm: exits total=");
        Serial.WriteDecimal(Total);
        Serial.Write(" cpuid=");
        Serial.WriteDecimal(Cpuid);
        Serial.Write(" msr=");
        Serial.WriteDecimal(Msr);
        Serial.Write(" io=");
        Serial.WriteDecimal(Io);
        Serial.Write(" mmio=");
        Serial.WriteDecimal(Mmio);
        Serial.Write(" vmrun=");
        Serial.WriteDecimal(Vmrun);
        Serial.Write(" hlt=");
        Serial.WriteDecimal(Hlt);
        Serial.Write(" intr=");
        Serial.WriteDecimal(Intr);
        Serial.WriteLine();
    }
}
