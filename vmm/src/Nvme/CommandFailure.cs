namespace Bmcast.Vmm.Nvme;

// Makes the controller itself fail a guest I/O command the hypervisor must
// not let run, before it can fetch the command: its starting LBA (Copy: the
// destination's; Dataset Management: every range's) is moved to the
// namespace's real end, past the hidden tail, so the controller answers LBA
// Out of Range and completes the command with its normal interrupt. Linux
// 6.1 turns that status into BLK_STS_TARGET, i.e. EIO for the reader.
// (QEMU 7.2 skips a Dataset Management range out of bounds and completes
// the command successfully: nothing is deallocated, which is what matters.)
internal static unsafe class CommandFailure
{
    public static void OutOfRange(NvmeCommand* command)
    {
        if (command->Opcode != NvmeCommand.IoDatasetManagement)
        {
            command->StartingLba = HiddenTail.NamespaceLbas;
            return;
        }
        for (uint i = 0; i < command->RangeCount; i++)
            DatasetRanges.SetStartingLba(command, i, HiddenTail.NamespaceLbas);
    }
}
