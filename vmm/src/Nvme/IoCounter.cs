using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// The I/O policy without streaming: counts the guest's reads and writes and
// forwards them all (streaming's policy counts through it too).
internal static unsafe class IoCounter
{
    private static ulong s_reads, s_readBlocks, s_writes, s_writeBlocks;

    public static Verdict Submitted(ushort queue, NvmeCommand* command)
    {
        if (command->Opcode == NvmeCommand.IoRead)
        {
            s_reads++;
            s_readBlocks += command->BlockCount;
        }
        else if (command->Opcode == NvmeCommand.IoWrite)
        {
            s_writes++;
            s_writeBlocks += command->BlockCount;
        }
        return Verdict.Forward;
    }

    public static void Report()
    {
        Serial.Write(" reads=");
        Serial.WriteDecimal(s_reads);
        Serial.Write(" read-lbas=");
        Serial.WriteDecimal(s_readBlocks);
        Serial.Write(" writes=");
        Serial.WriteDecimal(s_writes);
        Serial.Write(" write-lbas=");
        Serial.WriteDecimal(s_writeBlocks);
    }
}
