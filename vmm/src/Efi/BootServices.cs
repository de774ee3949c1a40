using System.Runtime.InteropServices;

namespace Bmcast.Vmm.Efi;

// EFI_BOOT_SERVICES (UEFI 2.10 §4.4): the table header, then one function
// pointer per service in spec order; only the ones we call are typed.
// SuppressGCTransition: there is no runtime to tell about leaving managed code.
[StructLayout(LayoutKind.Explicit)]
internal unsafe struct BootServices
{
    [FieldOffset(24 + 2 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<AllocateType, MemoryType, nuint, ulong*, ulong> AllocatePages;
    [FieldOffset(24 + 5 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<MemoryType, nuint, void**, ulong> AllocatePool;
    [FieldOffset(24 + 6 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<void*, ulong> FreePool;
    [FieldOffset(24 + 16 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<void*, EfiGuid*, void**, ulong> HandleProtocol;
    [FieldOffset(24 + 22 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<byte, void*, void*, void*, nuint, void**, ulong> LoadImage;
    [FieldOffset(24 + 23 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<void*, nuint*, char**, ulong> StartImage;
    [FieldOffset(24 + 30 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<void*, void**, void*, byte, ulong> ConnectController;
    [FieldOffset(24 + 31 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<void*, void*, void*, ulong> DisconnectController;
    [FieldOffset(24 + 34 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<void*, EfiGuid*, OpenProtocolInformationEntry**, nuint*, ulong> OpenProtocolInformation;
    [FieldOffset(24 + 36 * 8)]
    public delegate* unmanaged[SuppressGCTransition]<LocateSearchType, EfiGuid*, void*, nuint*, void***, ulong> LocateHandleBuffer;
}

// One agent that has a protocol open (UEFI 2.10 §7.3.11).
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct OpenProtocolInformationEntry
{
    public const uint ByDriver = 0x10;
    public void* AgentHandle;
    public void* ControllerHandle;
    public uint Attributes;
    public uint OpenCount;
}

internal enum AllocateType : uint
{
    MaxAddress = 1,
}

internal enum MemoryType : uint
{
    // The OS treats it as reserved (e820 type 2) and never touches it: the
    // hypervisor's code, stack and tables must outlive ExitBootServices.
    Reserved = 0,
    LoaderData = 2,
}

internal enum LocateSearchType : uint
{
    ByProtocol = 2,
}

internal static class EfiStatus
{
    public const ulong Unsupported = 0x8000000000000003;
    public const ulong OutOfResources = 0x8000000000000009;
    public const ulong NotFound = 0x800000000000000E;

    public static bool IsError(ulong status) => (long)status < 0;
}
