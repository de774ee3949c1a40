namespace Bmcast.Vmm.Platform;

// COM1, already initialised by the firmware. The guest keeps using the same
// UART directly; our lines are short and written whole, so they interleave
// with the guest's output only at line granularity in practice. Reading is
// for the host's answer while the guest is held (CompletionHold): the guest
// cannot run then, so the byte is ours.
internal static class Serial
{
    private const ushort Com1 = 0x3F8;
    private const ushort LineStatus = Com1 + 5;
    private const byte DataReady = 0x01, TransmitHoldingEmpty = 0x20;

    // True if a byte had arrived; it is consumed.
    public static bool TryTakeByte()
    {
        if ((Cpu.In8(LineStatus) & DataReady) == 0)
            return false;
        Cpu.In8(Com1);
        return true;
    }

    public static void Write(char c)
    {
        while ((Cpu.In8(LineStatus) & TransmitHoldingEmpty) == 0) { }
        Cpu.Out8(Com1, (byte)c);
    }

    public static void Write(string s)
    {
        for (int i = 0; i < s.Length; i++)
            Write(s[i]);
    }

    public static void WriteLine(string s)
    {
        Write(s);
        Write('\r');
        Write('\n');
    }

    public static void WriteLine()
    {
        Write('\r');
        Write('\n');
    }

    public static void WriteHex(ulong value)
    {
        Write('0');
        Write('x');
        int shift = 60;
        while (shift > 0 && (value >> shift) == 0)
            shift -= 4;
        for (; shift >= 0; shift -= 4)
        {
            uint nibble = (uint)(value >> shift) & 0xF;
            Write((char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10));
        }
    }

    public static void WriteDecimal(ulong value)
    {
        ulong divisor = 1;
        while (value / divisor >= 10)
            divisor *= 10;
        for (; divisor > 0; divisor /= 10)
            Write((char)('0' + (value / divisor) % 10));
    }
}
