namespace Bmcast.Vmm.Svm;

// #VMEXIT codes we can see (APM vol. 2, appendix C).
internal static class ExitCode
{
    public const ulong Intr = 0x60;
    public const ulong Cpuid = 0x72;
    public const ulong Hlt = 0x78;
    public const ulong Ioio = 0x7B;
    public const ulong Msr = 0x7C;
    public const ulong Shutdown = 0x7F;
    public const ulong Vmrun = 0x80;
    public const ulong NestedPageFault = 0x400;
    public const ulong Invalid = unchecked((ulong)-1);
}
