using Bmcast.Vmm.Platform;
using Bmcast.Vmm.Svm;

namespace Bmcast.Vmm.Devices;

// Hides one PCI function from the guest, as BitVisor's pci_conceal does: its
// configuration space reads as all ones (no device there) and writes are
// dropped, whichever way the guest reaches it: the legacy 0xCF8/0xCFC ports
// (Linux prefers them for the first 256 bytes) or the ECAM page. Stage 2
// gives the hypervisor a NIC this way, to speak AoE on it.
internal static unsafe class PciConceal
{
    private const ushort ConfigAddress = 0xCF8, ConfigData = 0xCFC;
    private const uint Enable = 0x80000000, FunctionBits = 0x00FFFF00;
    private static uint s_hidden;          // bus << 16 | device << 11 | function << 8
    private static uint s_configAddress;   // the guest's last write to 0xCF8

    public static void Hide(ref TrapTable traps, long function, ulong ecamBase, byte ecamFirstBus)
    {
        s_hidden = (uint)function;
        traps.Add(new IoTrap { FirstPort = ConfigAddress, PortCount = 8, Access = &PortAccess });
        if (ecamBase != 0)
        {
            ulong page = ecamBase + ((ulong)(s_hidden >> 16) - ecamFirstBus << 20) + ((ulong)(s_hidden & 0xFF00) << 4);
            traps.Add(new MmioTrap { Page = page, Access = &EcamAccess });
        }
    }

    private static TrapResult PortAccess(Vcpu* vcpu, ushort port, int size, bool write, ulong* value)
    {
        if (port < ConfigData)
        {
            if (write && port == ConfigAddress && size == 4)
                s_configAddress = (uint)*value;
            return TrapResult.Passthrough;
        }
        if ((s_configAddress & Enable) == 0 || (s_configAddress & FunctionBits) != s_hidden)
            return TrapResult.Passthrough;
        *value = ~0ul;   // reads: nothing here; writes: dropped
        return TrapResult.Done;
    }

    private static TrapResult EcamAccess(Vcpu* vcpu, uint offset, int size, bool write, ulong* value)
    {
        *value = ~0ul;
        return TrapResult.Done;
    }
}
