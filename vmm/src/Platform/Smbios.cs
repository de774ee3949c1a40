using Bmcast.Vmm.Efi;

namespace Bmcast.Vmm.Platform;

// The hypervisor's configuration channel: SMBIOS type 11 (OEM strings), which
// QEMU sets with -smbios type=11,value=... and a BMC can set on a real
// machine, read from the firmware's SMBIOS tables (SMBIOS 3.x spec §7.12).
internal static unsafe class Smbios
{
    private const byte OemStrings = 11, EndOfTable = 127;

    public static bool HasOemString(SystemTable* st, string wanted) => FindOemString(st, wanted, false) != null;

    // A number given as "PREFIXdigits" (e.g. "bmcast.vmm.nvme-tail=256").
    public static bool TryGetOemNumber(SystemTable* st, string prefix, out ulong value)
    {
        value = 0;
        byte* digits = OemValue(st, prefix);
        if (digits == null)
            return false;
        int i = 0;
        for (; digits[i] >= (byte)'0' && digits[i] <= (byte)'9'; i++)
            value = value * 10 + (ulong)(digits[i] - '0');
        return i > 0 && digits[i] == 0;
    }

    // The rest of the first OEM string that starts with prefix (a
    // NUL-terminated byte string, e.g. after "bmcast.vmm.aoe="); null if none.
    public static byte* OemValue(SystemTable* st, string prefix)
    {
        byte* s = FindOemString(st, prefix, true);
        return s == null ? null : s + prefix.Length;
    }

    // The first OEM string equal to wanted, or starting with it.
    private static byte* FindOemString(SystemTable* st, string wanted, bool prefixOnly)
    {
        byte* table;
        ulong length;
        if (!TryFindTable(st, out table, out length))
            return null;
        byte* end = table + length;
        for (byte* s = table; s + 4 <= end && s[0] != EndOfTable;)
        {
            byte* strings = s + s[1];
            byte* next = strings;
            while (next + 1 < end && !(next[0] == 0 && next[1] == 0))
                next++;
            if (s[0] == OemStrings)
            {
                for (byte* str = strings; str < next + 1 && *str != 0; str += Length(str) + 1)
                {
                    if (StartsWith(str, wanted) && (prefixOnly || str[wanted.Length] == 0))
                        return str;
                }
            }
            s = next + 2;
        }
        return null;
    }

    private static bool TryFindTable(SystemTable* st, out byte* table, out ulong length)
    {
        byte* entry = (byte*)st->FindConfigurationTable(EfiGuid.Smbios3Table);
        if (entry != null)   // "_SM3_": maximum size u32 at 0x0C, address u64 at 0x10
        {
            table = (byte*)*(ulong*)(entry + 0x10);
            length = *(uint*)(entry + 0x0C);
            return true;
        }
        entry = (byte*)st->FindConfigurationTable(EfiGuid.SmbiosTable);
        if (entry != null)   // "_SM_": length u16 at 0x16, address u32 at 0x18
        {
            table = (byte*)*(uint*)(entry + 0x18);
            length = *(ushort*)(entry + 0x16);
            return true;
        }
        table = null;
        length = 0;
        return false;
    }

    private static int Length(byte* s)
    {
        int n = 0;
        while (s[n] != 0)
            n++;
        return n;
    }

    private static bool StartsWith(byte* s, string wanted)
    {
        for (int i = 0; i < wanted.Length; i++)
        {
            if (s[i] != wanted[i])
                return false;
        }
        return true;
    }
}
