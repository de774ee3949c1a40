using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Cli.Chaos;

/// <summary>
/// A guest that writes and flushes through an NBD export, one request at a time, recording every
/// write in a <see cref="WriteLedger"/> before it is sent and every acknowledgement after. It stops
/// quietly when the export goes away (the power cut).
/// </summary>
internal sealed class LedgerWriter(WriteLedger ledger, SyntheticImage image, Random random)
{
    private const int MaxBlocksPerWrite = 8;
    private long BlockCount => image.Size / WriteLedger.BlockSize;

    public long WritesAcknowledged { get; private set; }

    public long FlushesAcknowledged { get; private set; }

    /// <summary>Write until <paramref name="stop"/> is signalled or the connection fails.</summary>
    public async Task WriteUntilAsync(NbdClient client, CancellationToken stop)
    {
        var buffer = new byte[MaxBlocksPerWrite * WriteLedger.BlockSize];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                int dice = random.Next(100);
                if (dice < 15)
                {
                    await client.FlushAsync(CancellationToken.None);
                    ledger.Flushed();
                    FlushesAcknowledged++;
                }
                else
                {
                    await WriteOnceAsync(client, buffer, forceUnitAccess: dice < 25);
                }
                // Leave the background copier some idle time now and then.
                if (random.Next(4) == 0)
                    await Task.Delay(random.Next(1, 20), CancellationToken.None);
            }
        }
        catch (IOException)
        {
            // The agent died under us: whatever was in flight stays undecided in the ledger.
        }
    }

    /// <summary>
    /// After a restart: read back every block ever written, judge it, then flush so what was read is
    /// what must survive from now on. Returns the verdicts that broke the ledger's rules.
    /// </summary>
    public async Task<IReadOnlyList<(long Block, BlockVerdict Verdict)>> SettleAsync(NbdClient client, CancellationToken ct)
    {
        var broken = new List<(long, BlockVerdict)>();
        var actual = new byte[WriteLedger.BlockSize];
        var found = new List<(long Block, long Write)>();
        foreach (long block in ledger.Blocks.Order())
        {
            await client.ReadAsync(block * WriteLedger.BlockSize, actual, ct);
            var verdict = ledger.Judge(block, actual, ImageBlock(block));
            if (!verdict.Allowed)
                broken.Add((block, verdict));
            else
                found.Add((block, verdict.Found));
        }
        await client.FlushAsync(ct);
        foreach (var (block, write) in found)
            ledger.Settle(block, write);
        return broken;
    }

    public ReadOnlySpan<byte> ImageBlock(long block) => image.Bytes.AsSpan((int)(block * WriteLedger.BlockSize), WriteLedger.BlockSize);

    private async Task WriteOnceAsync(NbdClient client, byte[] buffer, bool forceUnitAccess)
    {
        int blocks = random.Next(1, MaxBlocksPerWrite + 1);
        long first = random.NextInt64(0, BlockCount - blocks + 1);
        long write = ledger.NextWrite();
        for (int i = 0; i < blocks; i++)
        {
            WriteLedger.Fill(buffer.AsSpan(i * WriteLedger.BlockSize, WriteLedger.BlockSize), first + i, write);
            ledger.Sent(first + i, write);
        }
        await client.WriteAsync(first * WriteLedger.BlockSize, buffer.AsMemory(0, blocks * WriteLedger.BlockSize), forceUnitAccess, CancellationToken.None);
        WritesAcknowledged++;
        if (forceUnitAccess)
            for (int i = 0; i < blocks; i++)
                ledger.Durable(first + i, write);
    }
}
