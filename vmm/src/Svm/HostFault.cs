using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// Where every host exception ends: a bug in the hypervisor, reported.
internal static class HostFault
{
    private const ulong PageFault = 14;

    public static void Report(ulong vector, ulong errorCode, ulong rip)
    {
        Serial.Write("bmcast-vmm: PANIC: host exception ");
        Serial.WriteDecimal(vector);
        Serial.Write(" error ");
        Serial.WriteHex(errorCode);
        Serial.Write(" at rip ");
        Serial.WriteHex(rip);
        if (vector == PageFault)
        {
            Serial.Write(" address ");
            Serial.WriteHex(Cpu.ReadCr2());
        }
        Serial.WriteLine();
        Cpu.HaltForever();
    }
}
