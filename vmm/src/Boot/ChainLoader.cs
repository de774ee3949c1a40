using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Boot;

// Boots the OS the way the firmware would boot a removable disk: its
// \EFI\BOOT\BOOTX64.EFI, taken from the first file system that is not the
// one the hypervisor was loaded from. Runs in guest mode: from here on the
// firmware and everything it starts are the guest.
internal static unsafe class ChainLoader
{
    private const string BootLoaderPath = "\\EFI\\BOOT\\BOOTX64.EFI";

    public static ulong BootNextDisk(SystemTable* st, void* imageHandle)
    {
        BootServices* bs = st->BootServices;
        LoadedImage* self = LoadedImage.Of(st, imageHandle);
        var fsGuid = EfiGuid.SimpleFileSystemProtocol;
        var pathGuid = EfiGuid.DevicePathProtocol;
        nuint count;
        void** handles;
        if (self == null || EfiStatus.IsError(bs->LocateHandleBuffer(LocateSearchType.ByProtocol, &fsGuid, null, &count, &handles)))
            return EfiStatus.NotFound;

        for (nuint i = 0; i < count; i++)
        {
            byte* device;
            if (handles[i] == self->DeviceHandle || EfiStatus.IsError(bs->HandleProtocol(handles[i], &pathGuid, (void**)&device)))
                continue;
            byte* path = DevicePath.WithFile(bs, device, BootLoaderPath);
            void* loader;
            if (path == null || EfiStatus.IsError(bs->LoadImage(0, imageHandle, path, null, 0, &loader)))
                continue;
            Serial.Write("bmcast-vmm: starting ");
            Serial.Write(BootLoaderPath);
            Serial.Write(" from file system ");
            Serial.WriteDecimal(i);
            Serial.WriteLine();
            return bs->StartImage(loader, null, null);
        }
        Serial.WriteLine("bmcast-vmm: no other disk has " + BootLoaderPath);
        return EfiStatus.NotFound;
    }
}
