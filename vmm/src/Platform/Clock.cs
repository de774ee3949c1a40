namespace Bmcast.Vmm.Platform;

// Time for the AoE initiator's timeouts and the NVMe completion waits: the TSC, calibrated once against
// the ACPI PM timer (3.579545 MHz on every PC, its port in the FADT). The
// TSC is read without an exit and without touching a device; the PM timer
// only counts 24 (or 32) bits, which wrap every 4.7 s.
internal static class Clock
{
    private const ulong PmTimerHz = 3579545;
    private const ulong CalibrationPmTicks = PmTimerHz / 20;   // 50 ms
    private static ulong s_ticksPerMs;

    // Once per boot, from the FADT's PM timer; false if there is none (or it does not count).
    public static unsafe bool TryCalibrate(Efi.SystemTable* st)
    {
        if (s_ticksPerMs != 0)
            return true;
        bool wide;
        ushort port = Acpi.FindPmTimerPort(st, out wide);
        return port != 0 && Calibrate(port, wide);
    }

    private static bool Calibrate(ushort pmTimerPort, bool wide)
    {
        uint mask = wide ? 0xFFFFFFFFu : 0xFFFFFFu;
        uint start = Cpu.In32(pmTimerPort) & mask;
        ulong tscStart = Cpu.ReadTsc();
        // Bounded: a PM timer that does not count must not hang the start.
        for (ulong spins = 0; spins < 100_000_000; spins++)
        {
            uint elapsed = ((Cpu.In32(pmTimerPort) & mask) - start) & mask;
            if (elapsed >= CalibrationPmTicks)
            {
                ulong tsc = Cpu.ReadTsc() - tscStart;
                s_ticksPerMs = tsc * PmTimerHz / ((ulong)elapsed * 1000);
                return s_ticksPerMs > 0;
            }
        }
        return false;
    }

    public static ulong TicksPerMs => s_ticksPerMs;

    public static ulong Now => Cpu.ReadTsc();

    public static ulong MsSince(ulong ticks) => (Cpu.ReadTsc() - ticks) / s_ticksPerMs;

    public static ulong MicrosecondsSince(ulong ticks) => (Cpu.ReadTsc() - ticks) * 1000 / s_ticksPerMs;
}
