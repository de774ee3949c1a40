namespace Bmcast.Vmm.Platform;

// What a triple fault does on bare metal: reset the machine.
internal static class MachineReset
{
    private const ushort ResetControl = 0xCF9;          // PIIX/ICH reset control register
    private const byte FullReset = 0x0E;
    private const ushort KeyboardController = 0x64;
    private const byte PulseResetLine = 0xFE;

    public static void Now()
    {
        Cpu.Out8(ResetControl, FullReset);
        Cpu.Out8(KeyboardController, PulseResetLine);
        Panic.Halt("machine reset did not happen");
    }
}
