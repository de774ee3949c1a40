namespace Bmcast.Vmm.Platform;

// Optional instruction-set extensions the hypervisor uses when the CPU has them.
internal static unsafe class CpuFeatures
{
    // SHA extensions (SHA256RNDS2, SHA256MSG1, SHA256MSG2): CPUID.(EAX=7,ECX=0):EBX bit 29.
    public static bool HasShaExtensions
    {
        get
        {
            uint* r = stackalloc uint[4];
            Cpu.CpuId(0, 0, r);
            if (r[0] < 7)
                return false;
            Cpu.CpuId(7, 0, r);
            return (r[1] & (1u << 29)) != 0;
        }
    }
}
