using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// Refuses every guest I/O command whose LBA range reaches into the hidden
// tail, at the doorbell, before the controller can fetch it and before any
// policy sees it (CommandFailure: the controller answers LBA Out of Range).
// The guest was told a smaller namespace (HiddenTail patches Identify), so a
// well-behaved one never names those blocks; a buggy or hostile one could,
// and the presence map lives there. Copy is refused whole while a tail is
// hidden: its source ranges and its length are in guest memory in a format
// of their own, and Linux 6.1 never sends it.
internal static unsafe class HiddenTailGuard
{
    private static ulong s_refused;

    // True if the command reached into the tail and now fails.
    public static bool Refuse(NvmeCommand* command)
    {
        if (!HiddenTail.Covers(command->NamespaceId) || !ReachesTail(command))
            return false;
        s_refused++;
        CommandFailure.OutOfRange(command);
        return true;
    }

    public static void Report()
    {
        Serial.Write(" into-hidden-tail=");
        Serial.WriteDecimal(s_refused);
    }

    private static bool ReachesTail(NvmeCommand* command)
    {
        switch (command->Opcode)
        {
            case NvmeCommand.IoRead:
            case NvmeCommand.IoWrite:
            case NvmeCommand.IoWriteUncorrectable:
            case NvmeCommand.IoCompare:
            case NvmeCommand.IoWriteZeroes:
            case NvmeCommand.IoVerify:
                return Reaches(command->StartingLba, command->BlockCount);
            case NvmeCommand.IoDatasetManagement:
                for (uint i = 0; i < command->RangeCount; i++)
                {
                    if (Reaches(DatasetRanges.StartingLba(command, i), DatasetRanges.Length(command, i)))
                        return true;
                }
                return false;
            case NvmeCommand.IoCopy:
                return true;
            default:
                return false;
        }
    }

    // Blocks [lba, lba + blocks) meet [FirstHiddenLba, ...), without overflowing.
    private static bool Reaches(ulong lba, ulong blocks)
    {
        ulong first = HiddenTail.FirstHiddenLba;
        return blocks != 0 && (lba >= first || blocks > first - lba);
    }
}
