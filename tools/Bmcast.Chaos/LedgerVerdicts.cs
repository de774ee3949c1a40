namespace Bmcast.Chaos;

/// <summary>Ledger verdicts that broke its rules, as losses: a recognised but wrong write is a lost write, anything else a corrupt block.</summary>
public static class LedgerVerdicts
{
    public static void Record(ChaosTally tally, IReadOnlyList<(long Block, BlockVerdict Verdict)> broken, string when)
    {
        foreach (var (block, verdict) in broken)
            Record(tally, block, verdict, when);
    }

    public static void Record(ChaosTally tally, long block, BlockVerdict verdict, string when)
    {
        if (verdict.Recognised)
            tally.Loss("lost_writes", $"block {block} {when}: holds {Describe(verdict.Found)}, must hold {Describe(verdict.Expected)}");
        else
            tally.Loss("corrupt_blocks", $"block {block} {when}: content is neither the image nor any write");
    }

    private static string Describe(long write) => write == 0 ? "the image's bytes" : $"write #{write}";
}
