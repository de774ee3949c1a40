using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Chaos;

/// <summary>
/// A guest that writes and flushes through an NBD export, one request at a time, recording every
/// write in a <see cref="WriteLedger"/> before it is sent and every acknowledgement after. It stops
/// quietly when the export goes away (the power cut). At the end of a deployment it reads back every
/// block it wrote, and judges the finished target block by block.
/// </summary>
public sealed class LedgerWriter(WriteLedger ledger, SyntheticImage image, Random random) : IChaosGuest
{
    private const int MaxBlocksPerWrite = 8;
    private readonly HashSet<long> _acknowledged = [];
    private long BlockCount => image.Size / WriteLedger.BlockSize;

    /// <summary>
    /// When set, a request the export answers with an error reply (the disk failed it; the connection
    /// is fine) is reported here and the writer carries on. When not, it ends the writer like a lost connection.
    /// </summary>
    public Action<RefusedRequest>? OnRefused { get; init; }

    /// <summary>Blocks some acknowledged write has covered.</summary>
    public IReadOnlyCollection<long> AcknowledgedBlocks => _acknowledged;

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
                    await FlushOnceAsync(client);
                else
                    await WriteOnceAsync(client, buffer, forceUnitAccess: dice < 25);
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

    /// <summary>The deployment completed (the writing has stopped): every written block, read back, must hold what the ledger allows.</summary>
    public async Task FinishAsync(NbdClient client, ChaosTally tally, CancellationToken ct)
    {
        LedgerVerdicts.Record(tally, await SettleAsync(client, ct), "at completion");
        tally.Add("writes_acknowledged", WritesAcknowledged);
        tally.Add("flushes_acknowledged", FlushesAcknowledged);
    }

    /// <summary>The finished target file itself, every block: the image where the guest never wrote, the surviving write where it did.</summary>
    public async Task JudgeTargetAsync(string target, ChaosTally tally, CancellationToken ct)
    {
        byte[] actual = await File.ReadAllBytesAsync(target, ct);
        long blocks = actual.Length / WriteLedger.BlockSize;
        for (long block = 0; block < blocks; block++)
        {
            var verdict = ledger.Judge(block, actual.AsSpan((int)(block * WriteLedger.BlockSize), WriteLedger.BlockSize), ImageBlock(block));
            if (!verdict.Allowed)
                LedgerVerdicts.Record(tally, block, verdict, "in the finished target");
        }
        tally.Add("blocks_checked", blocks);
    }

    public ReadOnlySpan<byte> ImageBlock(long block) => image.Bytes.AsSpan((int)(block * WriteLedger.BlockSize), WriteLedger.BlockSize);

    private async Task FlushOnceAsync(NbdClient client)
    {
        try
        {
            await client.FlushAsync(CancellationToken.None);
        }
        catch (BlockDeviceException e) when (OnRefused is not null)
        {
            // Not acknowledged: every write since the last flush stays undecided.
            OnRefused(new RefusedRequest("flush", 0, 0, Rewrite: false, e));
            return;
        }
        ledger.Flushed();
        FlushesAcknowledged++;
    }

    /// <summary>Write again, one request each, <paramref name="count"/> blocks picked from those an acknowledged write covered.</summary>
    public async Task RewriteAcknowledgedAsync(NbdClient client, int count)
    {
        var buffer = new byte[WriteLedger.BlockSize];
        var candidates = _acknowledged.Order().ToArray();
        for (int i = 0; i < count && candidates.Length > 0; i++)
            await WriteAsync(client, buffer, candidates[random.Next(candidates.Length)], 1, forceUnitAccess: random.Next(4) == 0);
    }

    private Task WriteOnceAsync(NbdClient client, byte[] buffer, bool forceUnitAccess)
    {
        int blocks = random.Next(1, MaxBlocksPerWrite + 1);
        long first = random.NextInt64(0, BlockCount - blocks + 1);
        return WriteAsync(client, buffer, first, blocks, forceUnitAccess);
    }

    private async Task WriteAsync(NbdClient client, byte[] buffer, long first, int blocks, bool forceUnitAccess)
    {
        long write = ledger.NextWrite();
        bool rewrite = true;
        for (int i = 0; i < blocks; i++)
        {
            WriteLedger.Fill(buffer.AsSpan(i * WriteLedger.BlockSize, WriteLedger.BlockSize), first + i, write);
            ledger.Sent(first + i, write);
            rewrite &= _acknowledged.Contains(first + i);
        }
        try
        {
            await client.WriteAsync(first * WriteLedger.BlockSize, buffer.AsMemory(0, blocks * WriteLedger.BlockSize), forceUnitAccess, CancellationToken.None);
        }
        catch (BlockDeviceException e) when (OnRefused is not null)
        {
            // Not acknowledged: the write stays undecided in the ledger, old or new.
            for (int i = 0; i < blocks; i++)
                ledger.Refused(first + i, write);
            OnRefused(new RefusedRequest(forceUnitAccess ? "FUA write" : "write", first, blocks, rewrite, e));
            return;
        }
        WritesAcknowledged++;
        for (int i = 0; i < blocks; i++)
            _acknowledged.Add(first + i);
        if (forceUnitAccess)
            for (int i = 0; i < blocks; i++)
                ledger.Durable(first + i, write);
    }
}
