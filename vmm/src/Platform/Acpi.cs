using Bmcast.Vmm.Efi;

namespace Bmcast.Vmm.Platform;

// Reads the few ACPI facts the hypervisor needs, from the XSDT the firmware
// publishes (ACPI 6.5 §5.2).
internal static unsafe class Acpi
{
    // The PM1a control port, whose write with SLP_EN is how the OS powers off
    // (0x604 on QEMU q35, 0xB004 on i440fx); 0 if unknown.
    public static ushort FindPm1aControlPort(SystemTable* st)
    {
        byte* fadt = FindTable(st, 'F', 'A', 'C', 'P');
        return fadt == null ? (ushort)0 : (ushort)*(uint*)(fadt + 64);   // PM1a_CNT_BLK
    }

    // The ACPI PM timer's port (PM_TMR_BLK) and whether it counts 32 bits
    // (FADT flag TMR_VAL_EXT) rather than 24; port 0 if unknown.
    public static ushort FindPmTimerPort(SystemTable* st, out bool wide)
    {
        byte* fadt = FindTable(st, 'F', 'A', 'C', 'P');
        wide = fadt != null && (*(uint*)(fadt + 112) & (1u << 8)) != 0;
        return fadt == null ? (ushort)0 : (ushort)*(uint*)(fadt + 76);
    }

    // The memory-mapped configuration space (ECAM) of PCI segment 0 from the
    // MCFG table: (base, first bus), or base 0 if there is none (i440fx).
    public static ulong FindEcamBase(SystemTable* st, out byte firstBus)
    {
        firstBus = 0;
        byte* mcfg = FindTable(st, 'M', 'C', 'F', 'G');
        if (mcfg == null)
            return 0;
        uint length = *(uint*)(mcfg + 4);
        // 36-byte header, 8 reserved, then 16-byte entries: base u64, segment u16, first bus, last bus.
        for (uint offset = 44; offset + 16 <= length; offset += 16)
        {
            if (*(ushort*)(mcfg + offset + 8) == 0)
            {
                firstBus = mcfg[offset + 10];
                return *(ulong*)(mcfg + offset);
            }
        }
        return 0;
    }

    // Processors the firmware lists as enabled or online-capable in the MADT
    // (Local APIC and x2APIC entries, flags bit 0 or 1); 0 if there is no MADT.
    public static uint CountProcessors(SystemTable* st)
    {
        byte* madt = FindTable(st, 'A', 'P', 'I', 'C');
        if (madt == null)
            return 0;
        uint length = *(uint*)(madt + 4), count = 0;
        // 36-byte header, local APIC address u32, flags u32, then entries: type u8, length u8.
        for (uint offset = 44; offset + 2 <= length && madt[offset + 1] >= 2; offset += madt[offset + 1])
        {
            byte type = madt[offset];
            if ((type == 0 && (*(uint*)(madt + offset + 4) & 3) != 0) || (type == 9 && (*(uint*)(madt + offset + 8) & 3) != 0))
                count++;
        }
        return count;
    }

    private static byte* FindTable(SystemTable* st, char a, char b, char c, char d)
    {
        byte* rsdp = (byte*)st->FindConfigurationTable(EfiGuid.Acpi20Table);
        if (rsdp == null || rsdp[15] < 2)
            return null;
        // RSDP 2.0: XsdtAddress at 24. XSDT: 36-byte header, then u64 pointers.
        byte* xsdt = (byte*)*(ulong*)(rsdp + 24);
        uint length = *(uint*)(xsdt + 4);
        for (uint offset = 36; offset + 8 <= length; offset += 8)
        {
            byte* table = (byte*)*(ulong*)(xsdt + offset);
            if (table[0] == a && table[1] == b && table[2] == c && table[3] == d)
                return table;
        }
        return null;
    }
}
