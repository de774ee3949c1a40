using Bmcast.Vmm.Boot;

namespace Bmcast.Vmm.Svm;

// MSR permission map (APM vol. 2 §15.11): 8 KiB, two bits per MSR (read,
// write) for three ranges of 8192 MSRs. A clear bit lets the access through.
internal static unsafe class MsrPermissionMap
{
    public const uint Efer = 0xC0000080;

    public static ulong Build(ref ReservedMemory memory)
    {
        byte* map = memory.TakePages(2);
        // EFER reads and writes: the guest must never see or clear SVME.
        Intercept(map, Efer);
        return (ulong)map;
    }

    private static void Intercept(byte* map, uint msr)
    {
        uint rangeBase = msr >= 0xC0010000 ? 0x1000u : msr >= 0xC0000000 ? 0x800u : 0u;
        uint bit = (msr & 0x1FFF) * 2;
        map[rangeBase + bit / 8] |= (byte)(3 << (int)(bit % 8));
    }
}
