using Bmcast.Vmm.Efi;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Boot;

// One block of pages taken from the firmware as EfiReservedMemoryType, so the
// OS never uses it, handed out page by page (zeroed). Everything the host
// touches after the guest runs lives here; nothing is ever freed.
internal unsafe struct ReservedMemory
{
    public const ulong PageSize = 4096;

    private ulong _next;
    private ulong _end;

    public ulong Base { get; private set; }
    public ulong Size => _end - Base;

    public static bool TryReserve(BootServices* bs, ulong pages, out ReservedMemory memory)
    {
        memory = default;
        // Below 4 GiB: Cpu.SetPaging passes through 32-bit code and stack.
        ulong address = 0xFFFFFFFF;
        if (EfiStatus.IsError(bs->AllocatePages(AllocateType.MaxAddress, MemoryType.Reserved, (nuint)pages, &address)))
            return false;
        Memory.Zero((byte*)address, (nuint)(pages * PageSize));
        memory.Base = address;
        memory._next = address;
        memory._end = address + pages * PageSize;
        return true;
    }

    public byte* TakePages(ulong pages)
    {
        ulong address = _next;
        _next += pages * PageSize;
        if (_next > _end)
            Panic.Halt("reserved memory exhausted at", address);
        return (byte*)address;
    }

    public static ulong PagesFor(ulong bytes) => (bytes + PageSize - 1) / PageSize;
}
