namespace Bmcast.Vmm.Platform;

// PCI configuration space through the legacy 0xCF8/0xCFC mechanism, which
// every x86 chipset keeps; enough to find a device, read its BARs and enable it.
// A location is bus << 16 | device << 11 | function << 8.
internal static class Pci
{
    private const ushort ConfigAddress = 0xCF8, ConfigData = 0xCFC;
    public const uint Command = 0x04;
    public const uint CommandMemory = 0x2, CommandBusMaster = 0x4;

    public static uint Read32(uint bus, uint device, uint function, uint offset)
    {
        Cpu.Out32(ConfigAddress, 0x80000000u | (bus << 16) | (device << 11) | (function << 8) | (offset & 0xFC));
        return Cpu.In32(ConfigData);
    }

    public static uint Read32(long location, uint offset)
    {
        Cpu.Out32(ConfigAddress, 0x80000000u | (uint)location | (offset & 0xFC));
        return Cpu.In32(ConfigData);
    }

    public static void Write32(long location, uint offset, uint value)
    {
        Cpu.Out32(ConfigAddress, 0x80000000u | (uint)location | (offset & 0xFC));
        Cpu.Out32(ConfigData, value);
    }

    // The first function whose class code (base, sub, programming interface)
    // matches; -1 if none.
    public static long Find(byte baseClass, byte subClass, byte programmingInterface) =>
        FindRegister(8, 0xFFFFFF00, (uint)baseClass << 24 | (uint)subClass << 16 | (uint)programmingInterface << 8);

    // The first function with this vendor and device id; -1 if none.
    public static long FindById(ushort vendor, ushort device) => FindRegister(0, 0xFFFFFFFF, (uint)device << 16 | vendor);

    private static long FindRegister(uint offset, uint mask, uint wanted)
    {
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
                    if ((Read32(bus, device, function, offset) & mask) == wanted)
                        return (long)(bus << 16 | device << 11 | function << 8);
                }
        return -1;
    }

    // A memory BAR's base address, 64-bit BARs included.
    public static ulong MemoryBar(long location, int index)
    {
        uint offset = 0x10 + 4 * (uint)index;
        uint low = Read32(location, offset);
        ulong address = low & 0xFFFFFFF0;
        if ((low & 0x6) == 0x4)   // 64-bit
            address |= (ulong)Read32(location, offset + 4) << 32;
        return address;
    }
}
