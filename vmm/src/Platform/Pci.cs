namespace Bmcast.Vmm.Platform;

// PCI configuration space through the legacy 0xCF8/0xCFC mechanism, which
// every x86 chipset keeps; enough to find a device and read its BARs.
internal static class Pci
{
    private const ushort ConfigAddress = 0xCF8, ConfigData = 0xCFC;

    public static uint Read32(uint bus, uint device, uint function, uint offset)
    {
        Cpu.Out32(ConfigAddress, 0x80000000u | (bus << 16) | (device << 11) | (function << 8) | (offset & 0xFC));
        return Cpu.In32(ConfigData);
    }

    // The first function whose class code (base, sub, programming interface)
    // matches, as bus << 16 | device << 11 | function << 8; -1 if none.
    public static long Find(byte baseClass, byte subClass, byte programmingInterface)
    {
        uint wanted = (uint)baseClass << 24 | (uint)subClass << 16 | (uint)programmingInterface << 8;
        for (uint bus = 0; bus < 256; bus++)
            for (uint device = 0; device < 32; device++)
                for (uint function = 0; function < 8; function++)
                {
                    if ((Read32(bus, device, function, 0) & 0xFFFF) == 0xFFFF)
                    {
                        if (function == 0)
                            break;
                        continue;
                    }
                    if ((Read32(bus, device, function, 8) & 0xFFFFFF00) == wanted)
                        return (long)(bus << 16 | device << 11 | function << 8);
                }
        return -1;
    }

    // A memory BAR's base address, 64-bit BARs included.
    public static ulong MemoryBar(long location, int index)
    {
        uint bus = (uint)(location >> 16) & 0xFF, device = (uint)(location >> 11) & 0x1F, function = (uint)(location >> 8) & 7;
        uint offset = 0x10 + 4 * (uint)index;
        uint low = Read32(bus, device, function, offset);
        ulong address = low & 0xFFFFFFF0;
        if ((low & 0x6) == 0x4)   // 64-bit
            address |= (ulong)Read32(bus, device, function, offset + 4) << 32;
        return address;
    }
}
