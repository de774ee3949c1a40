using Bmcast.Vmm.Boot;

namespace Bmcast.Vmm.Svm;

// 4-level tables mapping every physical address to itself with 1 GiB pages,
// up to the CPU's physical address width: RAM, MMIO and the 64-bit PCI
// window alike. Built twice: as the nested page table (guest physical = host
// physical, so the guest sees the machine unchanged) and as the host's own
// CR3, because the firmware's tables live in memory the OS will reuse. The
// nested one gets holes for trapped MMIO pages; the host's a 5-level root
// for de-virtualizing a 5-level guest.
internal static unsafe class IdentityPageTables
{
    private const ulong Present = 1, Writable = 2, User = 4, LargePage = 0x80;
    private const ulong OneGiB = 1ul << 30;
    private const ulong FrameMask = 0x000FFFFFFFFFF000;

    private static ulong PdptPagesFor(uint physicalAddressBits)
    {
        ulong bytes = physicalAddressBits >= 48 ? 1ul << 48 : 1ul << (int)physicalAddressBits;
        ulong pdpts = bytes >> 39;
        return pdpts == 0 ? 1 : pdpts;
    }

    public static ulong PagesFor(uint physicalAddressBits) => 1 + PdptPagesFor(physicalAddressBits);

    // Pages UnmapPage may take: a page directory and a page table.
    public const ulong PagesPerUnmap = 2;

    // Makes one 4 KiB page of a nested identity table not present, so guest
    // accesses to it exit as #NPF: splits its 1 GiB page into 2 MiB pages and
    // that 2 MiB page into 4 KiB pages (unless an earlier call did), all with
    // unchanged rights.
    public static void UnmapPage(ref ReservedMemory memory, ulong pml4, ulong address)
    {
        var pdpt = (ulong*)(((ulong*)pml4)[(address >> 39) & 511] & FrameMask);
        ulong* pd = Split(ref memory, &pdpt[(address >> 30) & 511], OneGiB >> 9, LargePage);
        ulong* pt = Split(ref memory, &pd[(address >> 21) & 511], 4096, 0);
        pt[(address >> 12) & 511] = 0;
    }

    // Replaces a large-page entry by a table of 512 entries of the next size
    // down; an entry that already points to a table is just followed.
    private static ulong* Split(ref ReservedMemory memory, ulong* entry, ulong childSize, ulong childLargePage)
    {
        if ((*entry & LargePage) == 0)
            return (ulong*)(*entry & FrameMask);
        ulong rights = *entry & (Present | Writable | User);
        ulong start = *entry & FrameMask;
        var table = (ulong*)memory.TakePages(1);
        for (ulong i = 0; i < 512; i++)
            table[i] = (start + i * childSize) | rights | childLargePage;
        *entry = (ulong)table | rights;
        return table;
    }

    // A 5-level root over a 4-level identity table: its entry 0 covers 256 TiB.
    public static ulong FiveLevelRoot(ref ReservedMemory memory, ulong pml4)
    {
        var pml5 = (ulong*)memory.TakePages(1);
        pml5[0] = pml4 | Present | Writable;
        return (ulong)pml5;
    }

    // Nested page walks are user accesses (APM vol. 2 §15.25.5): nested
    // entries need U=1. Host entries leave it clear so SMEP cannot object.
    public static ulong Build(ref ReservedMemory memory, uint physicalAddressBits, bool nested)
    {
        ulong rights = Present | Writable | (nested ? User : 0);
        var pml4 = (ulong*)memory.TakePages(1);
        ulong pdpts = PdptPagesFor(physicalAddressBits);
        for (ulong i = 0; i < pdpts; i++)
        {
            var pdpt = (ulong*)memory.TakePages(1);
            for (ulong j = 0; j < 512; j++)
                pdpt[j] = ((i * 512 + j) * OneGiB) | rights | LargePage;
            pml4[i] = (ulong)pdpt | rights;
        }
        return (ulong)pml4;
    }
}
