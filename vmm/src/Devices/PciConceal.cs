using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// Hides one PCI function from the guest, as BitVisor's pci_conceal does: its
// configuration space reads as all ones (no device there) and writes are
// dropped, whichever way the guest reaches it: the legacy 0xCF8/0xCFC ports
// (Linux uses them for the first 256 bytes of every function) or the ECAM
// page. The hypervisor's AoE NIC is hidden this way.
// Only the data ports (0xCFC-0xCFF) are trapped: the address the guest
// wrote to 0xCF8 is still in the chipset's latch, which reads back, so the
// writes to 0xCF8 (half of all configuration-space accesses) need no exit.
// The counts go to the power-off report: they are most of a boot's I/O exits.
internal static unsafe class PciConceal
{
    private const ushort ConfigAddress = 0xCF8, ConfigData = 0xCFC;
    private const uint Enable = 0x80000000, FunctionBits = 0x00FFFF00;
    private static uint s_hidden;   // bus << 16 | device << 11 | function << 8
    private static ulong s_portAccesses, s_hiddenPortAccesses, s_ecamAccesses;

    public static void Hide(ref TrapTable traps, long function, ulong ecamBase, byte ecamFirstBus)
    {
        s_hidden = (uint)function;
        traps.Add(new IoTrap { FirstPort = ConfigData, PortCount = 4, Access = &PortAccess });
        if (ecamBase != 0)
        {
            ulong page = ecamBase + ((ulong)(s_hidden >> 16) - ecamFirstBus << 20) + ((ulong)(s_hidden & 0xFF00) << 4);
            traps.Add(new MmioTrap { Page = page, Access = &EcamAccess });
        }
        traps.AddReport(&Report);
    }

    private static TrapResult PortAccess(Vcpu* vcpu, ushort port, int size, bool write, ulong* value)
    {
        s_portAccesses++;
        uint address = Cpu.In32(ConfigAddress);
        if ((address & Enable) == 0 || (address & FunctionBits) != s_hidden)
            return TrapResult.Passthrough;
        s_hiddenPortAccesses++;
        *value = ~0ul;   // reads: nothing here; writes: dropped
        return TrapResult.Done;
    }

    private static TrapResult EcamAccess(Vcpu* vcpu, uint offset, int size, bool write, ulong* value)
    {
        s_ecamAccesses++;
        *value = ~0ul;
        return TrapResult.Done;
    }

    // bmcast-vmm: pci-conceal: config-data-exits=N (hidden function: N) ecam-exits=N
    private static void Report()
    {
        Serial.Write("bmcast-vmm: pci-conceal: config-data-exits=");
        Serial.WriteDecimal(s_portAccesses);
        Serial.Write(" (hidden function: ");
        Serial.WriteDecimal(s_hiddenPortAccesses);
        Serial.Write(") ecam-exits=");
        Serial.WriteDecimal(s_ecamAccesses);
        Serial.WriteLine();
    }
}
