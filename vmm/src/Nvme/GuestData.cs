namespace Bmcast.Vmm.Nvme;

// Bytes of a command's data buffer, as the device wrote them into guest
// memory: PRP1 maps the first page (with an offset), PRP2 the second (NVMe
// base spec 2.0 §4.1.1). Enough for the data structures we patch (4 KiB).
internal static unsafe class GuestData
{
    public static byte* At(NvmeCommand* command, uint offset)
    {
        ulong first = 4096 - (command->Prp1 & 0xFFF);
        return offset < first ? (byte*)(command->Prp1 + offset) : (byte*)(command->Prp2 + (offset - first));
    }

    public static ulong Read64(NvmeCommand* command, uint offset)
    {
        ulong value = 0;
        for (uint i = 0; i < 8; i++)
            value |= (ulong)*At(command, offset + i) << (int)(8 * i);
        return value;
    }

    public static void Write64(NvmeCommand* command, uint offset, ulong value)
    {
        for (uint i = 0; i < 8; i++)
            *At(command, offset + i) = (byte)(value >> (int)(8 * i));
    }
}
