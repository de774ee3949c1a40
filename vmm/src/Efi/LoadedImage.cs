using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Efi;

// EFI_LOADED_IMAGE_PROTOCOL (UEFI 2.10 §9.1).
[StructLayout(LayoutKind.Explicit)]
internal unsafe struct LoadedImage
{
    [FieldOffset(24)] public void* DeviceHandle;
    [FieldOffset(64)] public byte* ImageBase;
    [FieldOffset(72)] public ulong ImageSize;

    public static LoadedImage* Of(SystemTable* st, void* imageHandle)
    {
        var guid = EfiGuid.LoadedImageProtocol;
        void* protocol;
        return EfiStatus.IsError(st->BootServices->HandleProtocol(imageHandle, &guid, &protocol)) ? null : (LoadedImage*)protocol;
    }
}
