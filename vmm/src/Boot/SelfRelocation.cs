using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Boot;

// The firmware loads a UEFI application into EfiLoaderCode memory, which the
// OS reclaims after ExitBootServices; yet the host code must keep running on
// every #VMEXIT for the OS's whole life. So the application copies its own
// loaded image into reserved memory, applies the PE base relocations for the
// new address, and continues in the copy (BitVisor's loader relocates its ELF
// for the same reason). Runs before any static state is written, so the copy
// starts from the same pristine data the firmware loaded.
internal static unsafe class SelfRelocation
{
    private const ushort RelocationAbsolute = 0;   // padding entry
    private const ushort RelocationDir64 = 10;

    // Copies the image to destination and returns destination - source.
    public static long CopyTo(byte* image, ulong imageSize, byte* destination)
    {
        Memory.Copy(destination, image, (nuint)imageSize);
        long delta = (long)(destination - image);

        // PE32+: e_lfanew at 0x3C; optional header after the 4-byte signature
        // and the 20-byte file header; data directory 5 (base relocations) at
        // optional-header offset 112 + 5 * 8.
        byte* optionalHeader = destination + *(int*)(destination + 0x3C) + 4 + 20;
        uint relocRva = *(uint*)(optionalHeader + 152);
        uint relocSize = *(uint*)(optionalHeader + 156);

        byte* block = destination + relocRva;
        byte* end = block + relocSize;
        while (block < end)
        {
            uint pageRva = *(uint*)block;
            uint blockSize = *(uint*)(block + 4);
            var entries = (ushort*)(block + 8);
            uint count = (blockSize - 8) / 2;
            for (uint i = 0; i < count; i++)
            {
                ushort type = (ushort)(entries[i] >> 12);
                uint offset = entries[i] & 0xFFFu;
                if (type == RelocationDir64)
                    *(long*)(destination + pageRva + offset) += delta;
                else if (type != RelocationAbsolute)
                    Panic.Halt("unexpected PE relocation type", type);
            }
            block += blockSize;
        }
        return delta;
    }
}
