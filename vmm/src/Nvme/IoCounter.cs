using Bmcast.Vmm.Platform;

namespace Bmcast.Vmm.Nvme;

// The I/O policy until streaming exists: counts the guest's reads and writes
// and the commands that reach into the hidden tail, and forwards them all.
internal static unsafe class IoCounter
{
    private static ulong s_reads, s_readBlocks, s_writes, s_writeBlocks, s_intoTail;

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
        else
        {
            return Verdict.Forward;
        }
        if (HiddenTail.Covers(command->NamespaceId) && command->StartingLba + command->BlockCount > HiddenTail.FirstHiddenLba)
            s_intoTail++;
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
        Serial.Write(" into-hidden-tail=");
        Serial.WriteDecimal(s_intoTail);
    }
}
