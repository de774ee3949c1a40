using Bmcast.Chaos;

namespace Bmcast.Tests.Chaos;

/// <summary>The ledger that judges a disk after a power cut: what it must refuse, and what it must let pass.</summary>
public sealed class WriteLedgerTests
{
    private static readonly byte[] ImageBlock = Enumerable.Range(0, WriteLedger.BlockSize).Select(i => (byte)(i * 7)).ToArray();

    private static byte[] Written(long block, long write)
    {
        var bytes = new byte[WriteLedger.BlockSize];
        WriteLedger.Fill(bytes, block, write);
        return bytes;
    }

    [Fact]
    public void A_flushed_write_replaced_by_the_image_is_a_loss()
    {
        var ledger = new WriteLedger();
        long write = ledger.NextWrite();
        ledger.Sent(5, write);
        ledger.Flushed();
        var verdict = ledger.Judge(5, ImageBlock, ImageBlock);
        Assert.True(verdict.Recognised);
        Assert.False(verdict.Allowed);
        Assert.Equal(write, verdict.Expected);
        Assert.True(ledger.Judge(5, Written(5, write), ImageBlock).Allowed);
    }

    [Fact]
    public void An_unflushed_write_may_be_there_or_not()
    {
        var ledger = new WriteLedger();
        long write = ledger.NextWrite();
        ledger.Sent(5, write);
        Assert.True(ledger.Judge(5, ImageBlock, ImageBlock).Allowed);
        Assert.True(ledger.Judge(5, Written(5, write), ImageBlock).Allowed);
    }

    [Fact]
    public void An_older_write_after_a_flushed_newer_one_is_a_loss()
    {
        var ledger = new WriteLedger();
        long older = ledger.NextWrite();
        ledger.Sent(3, older);
        ledger.Flushed();
        long newer = ledger.NextWrite();
        ledger.Sent(3, newer);
        ledger.Durable(3, newer);
        Assert.False(ledger.Judge(3, Written(3, older), ImageBlock).Allowed);
        Assert.True(ledger.Judge(3, Written(3, newer), ImageBlock).Allowed);
    }

    [Fact]
    public void A_write_found_in_the_wrong_block_or_torn_is_unrecognised()
    {
        var ledger = new WriteLedger();
        long write = ledger.NextWrite();
        ledger.Sent(1, write);
        ledger.Sent(2, write);
        Assert.False(ledger.Judge(2, Written(1, write), ImageBlock).Recognised);
        byte[] torn = Written(1, write);
        torn[^1] ^= 1;
        Assert.False(ledger.Judge(1, torn, ImageBlock).Recognised);
    }

    [Fact]
    public void Settling_makes_what_was_read_the_survivor()
    {
        var ledger = new WriteLedger();
        long write = ledger.NextWrite();
        ledger.Sent(9, write);
        ledger.Settle(9, 0);
        Assert.False(ledger.Judge(9, Written(9, write), ImageBlock).Allowed);
        Assert.True(ledger.Judge(9, ImageBlock, ImageBlock).Allowed);
    }

    [Fact]
    public void The_tally_fails_on_any_loss_and_lists_loss_counters_first()
    {
        var tally = new ChaosTally(["lost_writes", "corrupt_blocks"]);
        tally.Add("cuts", 3);
        Assert.False(tally.Lost);
        Assert.Equal("power-cut: runs=2 lost_writes=0 corrupt_blocks=0 cuts=3", tally.Summary("power-cut", 2));
        tally.Loss("corrupt_blocks", "block 7");
        Assert.True(tally.Lost);
        Assert.Equal(["corrupt_blocks: block 7"], tally.Details);
        Assert.Throws<ArgumentException>(() => tally.Loss("cuts", "not a loss counter"));
    }
}
