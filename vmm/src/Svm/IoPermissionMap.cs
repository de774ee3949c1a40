using Bmcast.Vmm.Boot;

namespace Bmcast.Vmm.Svm;

// I/O permission map (APM vol. 2 §15.10.1): 12 KiB, one bit per port; a set
// bit makes IN/OUT on that port exit. Only the devices' trapped ports are set.
internal static unsafe class IoPermissionMap
{
    public static ulong Build(ref ReservedMemory memory, TrapTable* traps)
    {
        byte* map = memory.TakePages(3);
        for (int i = 0; i < traps->IoCount; i++)
        {
            IoTrap* trap = &traps->Io[i];
            for (uint port = trap->FirstPort; port < (uint)trap->FirstPort + trap->PortCount; port++)
                map[port / 8] |= (byte)(1 << (int)(port % 8));
        }
        return (ulong)map;
    }
}
