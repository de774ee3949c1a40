namespace Bmcast.Vmm.Nvme;

// Dataset Management's ranges (NVM command set spec 1.0 §3.2.3.1): up to 256
// entries of 16 bytes in the command's data buffer, in guest memory: context
// attributes (u32), length in logical blocks (u32), starting LBA (u64).
internal static unsafe class DatasetRanges
{
    private const uint RangeBytes = 16;

    public static ulong Length(NvmeCommand* command, uint range) => GuestData.Read64(command, range * RangeBytes) >> 32;

    public static ulong StartingLba(NvmeCommand* command, uint range) => GuestData.Read64(command, range * RangeBytes + 8);

    public static void SetStartingLba(NvmeCommand* command, uint range, ulong lba) => GuestData.Write64(command, range * RangeBytes + 8, lba);
}
