using Bmcast.Vmm.Boot;

namespace Bmcast.Vmm.Svm;

// I/O permission map (APM vol. 2 §15.10.1): 12 KiB, one bit per port; a set
// bit makes IN/OUT on that port exit. Everything else is passed through.
internal static unsafe class IoPermissionMap
{
    public static ulong Build(ref ReservedMemory memory, ushort firstPort, ushort count)
    {
        byte* map = memory.TakePages(3);
        for (uint port = firstPort; port < (uint)firstPort + count; port++)
            map[port / 8] |= (byte)(1 << (int)(port % 8));
        return (ulong)map;
    }
}
