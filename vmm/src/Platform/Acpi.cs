using Bmcast.Vmm.Efi;

namespace Bmcast.Vmm.Platform;

// Reads the one ACPI fact stage 1 needs: the PM1a control port, whose write
// with SLP_EN is how the OS powers off (0x604 on QEMU q35, 0xB004 on i440fx).
internal static unsafe class Acpi
{
    public static ushort FindPm1aControlPort(SystemTable* st)
    {
        byte* rsdp = (byte*)st->FindConfigurationTable(EfiGuid.Acpi20Table);
        if (rsdp == null || rsdp[15] < 2)
            return 0;
        // RSDP 2.0: XsdtAddress at 24. XSDT: 36-byte header, then u64 pointers.
        byte* xsdt = (byte*)*(ulong*)(rsdp + 24);
        uint length = *(uint*)(xsdt + 4);
        for (uint offset = 36; offset + 8 <= length; offset += 8)
        {
            byte* table = (byte*)*(ulong*)(xsdt + offset);
            if (table[0] == 'F' && table[1] == 'A' && table[2] == 'C' && table[3] == 'P')
                return (ushort)*(uint*)(table + 64);   // FADT.PM1a_CNT_BLK
        }
        return 0;
    }
}
