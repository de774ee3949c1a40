using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Efi;

[StructLayout(LayoutKind.Sequential)]
internal struct EfiGuid
{
    public uint A;
    public ushort B, C;
    public byte D0, D1, D2, D3, D4, D5, D6, D7;

    private EfiGuid(uint a, ushort b, ushort c, byte d0, byte d1, byte d2, byte d3, byte d4, byte d5, byte d6, byte d7)
    {
        A = a; B = b; C = c;
        D0 = d0; D1 = d1; D2 = d2; D3 = d3; D4 = d4; D5 = d5; D6 = d6; D7 = d7;
    }

    // Properties, not static readonly fields: no class constructors here.
    public static EfiGuid LoadedImageProtocol => new(0x5B1B31A1, 0x9562, 0x11D2, 0x8E, 0x3F, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B);
    public static EfiGuid SimpleFileSystemProtocol => new(0x964E5B22, 0x6459, 0x11D2, 0x8E, 0x39, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B);
    public static EfiGuid DevicePathProtocol => new(0x09576E91, 0x6D3F, 0x11D2, 0x8E, 0x39, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B);
    public static EfiGuid SmbiosTable => new(0xEB9D2D31, 0x2D88, 0x11D3, 0x9A, 0x16, 0x00, 0x90, 0x27, 0x3F, 0xC1, 0x4D);
    public static EfiGuid Smbios3Table => new(0xF2FD1544, 0x9794, 0x4A2C, 0x99, 0x2E, 0xE5, 0xBB, 0xCF, 0x20, 0xE3, 0x94);
    public static EfiGuid NvmExpressPassThruProtocol => new(0x52C78312, 0x8EDC, 0x4233, 0x98, 0xF2, 0x1A, 0x1A, 0xA5, 0xE3, 0x88, 0xA5);
    public static EfiGuid Acpi20Table => new(0x8868E871, 0xE4F1, 0x11D3, 0xBC, 0x22, 0x00, 0x80, 0xC7, 0x3C, 0x88, 0x81);

    public static unsafe bool Equal(EfiGuid* a, EfiGuid* b)
    {
        var x = (ulong*)a;
        var y = (ulong*)b;
        return x[0] == y[0] && x[1] == y[1];
    }
}
