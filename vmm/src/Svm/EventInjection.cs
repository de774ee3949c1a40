namespace Bmcast.Vmm.Svm;

// EVENTINJ (APM vol. 2 §15.20): vector, type 3 = exception, EV = error code
// valid, V = valid; the error code goes in bits 32-63.
internal static unsafe class EventInjection
{
    private const ulong TypeException = 3ul << 8, ErrorCodeValid = 1ul << 11, Valid = 1ul << 31;
    public const ulong ValidBit = Valid;   // same layout in EXITINTINFO

    public static void InvalidOpcode(Vmcb* vmcb) => vmcb->EventInjection = 6 | TypeException | Valid;

    public static void GeneralProtection(Vmcb* vmcb) => vmcb->EventInjection = 13 | TypeException | ErrorCodeValid | Valid;
}
