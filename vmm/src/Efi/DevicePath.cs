using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Efi;

// Device paths (UEFI 2.10 §10): a chain of (type, subtype, u16 length) nodes
// closed by an end node. We only need "this device + a file path on it".
internal static unsafe class DevicePath
{
    private const byte EndType = 0x7F, EndEntireSubtype = 0xFF;
    private const byte MediaType = 0x04, FilePathSubtype = 0x04;

    // A new pool-allocated path: the device's path with the file node appended.
    public static byte* WithFile(BootServices* bs, byte* device, string file)
    {
        nuint deviceLength = LengthWithoutEnd(device);
        nuint fileNodeLength = 4 + 2 * (nuint)(file.Length + 1);
        byte* path;
        if (EfiStatus.IsError(bs->AllocatePool(MemoryType.LoaderData, deviceLength + fileNodeLength + 4, (void**)&path)))
            return null;
        Memory.Copy(path, device, deviceLength);

        byte* node = path + deviceLength;
        WriteHeader(node, MediaType, FilePathSubtype, fileNodeLength);
        var name = (char*)(node + 4);
        for (int i = 0; i < file.Length; i++)
            name[i] = file[i];
        name[file.Length] = '\0';

        WriteHeader(node + fileNodeLength, EndType, EndEntireSubtype, 4);
        return path;
    }

    private static nuint LengthWithoutEnd(byte* path)
    {
        byte* node = path;
        while (!(node[0] == EndType && node[1] == EndEntireSubtype))
            node += *(ushort*)(node + 2);
        return (nuint)(node - path);
    }

    private static void WriteHeader(byte* node, byte type, byte subtype, nuint length)
    {
        node[0] = type;
        node[1] = subtype;
        *(ushort*)(node + 2) = (ushort)length;
    }
}
