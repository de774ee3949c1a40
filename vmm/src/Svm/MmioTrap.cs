namespace Bmcast.Vmm.Svm;

// The core's hook for memory-mapped registers: one 4 KiB page of guest
// physical memory unmapped in the nested page table, whose accesses exit as
// #NPF. The core decodes and carries out each access; a device sees writes
// first (stage 2's NVMe mediation will hold them there). Page 0: no trap.
internal unsafe struct MmioTrap
{
    public ulong Page;
    // (vcpu, offset in the page, size in bytes, value written)
    public delegate*<Vcpu*, uint, int, ulong, void> BeforeWrite;
}
