namespace Bmcast.Vmm.Platform;

// Whether an interrupt waits in the local APIC (its IRR), read by the host.
// After each #VMEXIT the host runs with GIF=0, so an interrupt that arrives
// meanwhile (the guest's timer, a device's MSI) stays pending in the APIC
// until the next VMRUN delivers it: host work done then delays the guest's
// wake-up by as much. The guest owns the APIC (no AVIC, no intercepts);
// reading IRR changes nothing. x2APIC mode is read through its MSRs, xAPIC
// mode through the page at the APIC base, identity-mapped for the host.
internal static unsafe class LocalApic
{
    private const uint BaseMsr = 0x1B;
    private const ulong BaseEnabled = 1UL << 11, BaseX2Apic = 1UL << 10, BaseAddress = 0x000F_FFFF_FFFF_F000UL;
    private const uint X2ApicIrrMsr = 0x820;   // IRR bits 32n..32n+31 in MSR 0x820 + n
    private const uint IrrOffset = 0x200, IrrStride = 0x10;   // xAPIC: the same 8 registers, 16 bytes apart
    private const uint IrrRegisters = 8;

    public static bool InterruptPending()
    {
        ulong apicBase = Cpu.ReadMsr(BaseMsr);
        if ((apicBase & BaseEnabled) == 0)
            return false;
        for (uint i = 0; i < IrrRegisters; i++)
        {
            uint irr = (apicBase & BaseX2Apic) != 0
                ? (uint)Cpu.ReadMsr(X2ApicIrrMsr + i)
                : *(uint*)((apicBase & BaseAddress) + IrrOffset + i * IrrStride);   // each register read once: nothing to cache
            if (irr != 0)
                return true;
        }
        return false;
    }
}
