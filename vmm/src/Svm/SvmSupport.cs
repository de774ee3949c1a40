using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Svm;

// Checks that the CPU can host us and turns SVM on (APM vol. 2 §15.4).
internal static unsafe class SvmSupport
{
    private const uint VmCr = 0xC0010114, VmHsavePa = 0xC0010117;
    private const ulong VmCrSvmDisabled = 1 << 4;
    public const ulong EferSvme = 1 << 12;

    // Null when usable, else why not.
    public static string WhyUnusable()
    {
        uint* r = stackalloc uint[4];
        Cpu.CpuId(0x80000000, 0, r);
        if (r[0] < 0x8000000A)
            return "no extended CPUID leaves";
        Cpu.CpuId(0x80000001, 0, r);
        if ((r[2] & (1 << 2)) == 0)
            return "CPU has no SVM";
        if ((r[3] & (1 << 26)) == 0)
            return "CPU has no 1 GiB pages";
        Cpu.CpuId(0x8000000A, 0, r);
        if ((r[3] & 1) == 0)
            return "CPU has no nested paging";
        if ((Cpu.ReadMsr(VmCr) & VmCrSvmDisabled) != 0)
            return "SVM disabled by firmware (VM_CR.SVMDIS)";
        return null;
    }

    public static bool HasFiveLevelPaging()
    {
        uint* r = stackalloc uint[4];
        Cpu.CpuId(7, 0, r);
        return (r[2] & (1 << 16)) != 0;
    }

    public static uint PhysicalAddressBits()
    {
        uint* r = stackalloc uint[4];
        Cpu.CpuId(0x80000008, 0, r);
        return r[0] & 0xFF;
    }

    public static void Enable(ulong hostSaveArea)
    {
        Cpu.WriteMsr(MsrPermissionMap.Efer, Cpu.ReadMsr(MsrPermissionMap.Efer) | EferSvme);
        Cpu.WriteMsr(VmHsavePa, hostSaveArea);
    }
}
