namespace Bmcast.Vmm.Platform;

// The hypervisor has no way to recover from its own bugs: say why and stop.
internal static class Panic
{
    public static void Halt(string reason)
    {
        Serial.Write("bmcast-vmm: PANIC: ");
        Serial.WriteLine(reason);
        Cpu.HaltForever();
    }

    public static void Halt(string reason, ulong value)
    {
        Serial.Write("bmcast-vmm: PANIC: ");
        Serial.Write(reason);
        Serial.Write(' ');
        Serial.WriteHex(value);
        Serial.WriteLine();
        Cpu.HaltForever();
    }
}
