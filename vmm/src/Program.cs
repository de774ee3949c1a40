using System.Runtime;
using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm;

internal static unsafe class Program
{
    [RuntimeExport("EfiMain")]
    private static ulong EfiMain(void* imageHandle, void* systemTable)
    {
        Serial.WriteLine("bmcast-vmm: hello from C#");
        return 0;
    }
}
