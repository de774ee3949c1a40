using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Efi;

// EFI_SYSTEM_TABLE, the fields we use (UEFI 2.10 §4.3).
[StructLayout(LayoutKind.Explicit)]
internal unsafe struct SystemTable
{
    [FieldOffset(96)] public BootServices* BootServices;
    [FieldOffset(104)] public ulong NumberOfTableEntries;
    [FieldOffset(112)] public ConfigurationTable* ConfigurationTables;

    public void* FindConfigurationTable(EfiGuid guid)
    {
        for (ulong i = 0; i < NumberOfTableEntries; i++)
        {
            if (EfiGuid.Equal(&ConfigurationTables[i].VendorGuid, &guid))
                return ConfigurationTables[i].VendorTable;
        }
        return null;
    }
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ConfigurationTable
{
    public EfiGuid VendorGuid;
    public void* VendorTable;
}
