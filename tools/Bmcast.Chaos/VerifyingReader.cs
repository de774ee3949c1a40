using System.Diagnostics;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Chaos;

/// <summary>
/// A guest that reads random extents through an NBD export and checks each against the image. A read
/// that fails is an expected failure while <see cref="ExpectFailures"/> is set (a long outage) and a
/// guest I/O error otherwise. Excused failures are counted under <paramref name="excusedCounter"/>.
/// </summary>
public sealed class VerifyingReader(SyntheticImage image, Random random, string excusedCounter) : IChaosGuest
{
    private const int MaxRead = 256 << 10;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    /// <summary>Failures nobody excused (yet): when the read started and failed (<see cref="Stopwatch"/> timestamps), and what failed.</summary>
    private readonly List<(long Started, long Failed, string What)> _unexpectedFailures = [];
    private readonly List<(long From, long To)> _excusedWindows = [];
    /// <summary>Reads whose bytes differed from the image.</summary>
    private readonly List<string> _wrongContent = [];
    private Task _reading = Task.CompletedTask;
    private long _reads;

    /// <summary>Set while the campaign has made errors legitimate (the server is gone for longer than the limit).</summary>
    public volatile bool ExpectFailures;

    public long ExpectedFailures { get; private set; }

    /// <summary>
    /// Excuse, after the fact, the failures of reads that started or failed between two <see cref="Stopwatch"/>
    /// timestamps: an outage meant to be short that lasted longer than the agent's limit (a server slow to start on a
    /// loaded machine). Returns how many were excused.
    /// </summary>
    public int Excuse(long from, long to)
    {
        lock (_gate)
        {
            // Kept, for a read that started in the window and whose failure is still on its way.
            _excusedWindows.Add((from, to));
            int excused = _unexpectedFailures.RemoveAll(f => Excused(f.Started) || Excused(f.Failed));
            ExpectedFailures += excused;
            return excused;
        }
    }

    private bool Excused(long timestamp) => _excusedWindows.Any(w => timestamp >= w.From && timestamp <= w.To);

    /// <summary>Read through <paramref name="client"/> until <see cref="FinishAsync"/>, or until the connection itself is gone.</summary>
    public void Start(NbdClient client) => _reading = ReadUntilAsync(client, _stop.Token);

    public async Task FinishAsync(NbdClient client, ChaosTally tally, CancellationToken ct)
    {
        await _stop.CancelAsync();
        await _reading;
        tally.Add("guest_reads", _reads);
        tally.Add(excusedCounter, ExpectedFailures);
        foreach (var (_, _, failure) in _unexpectedFailures)
            tally.Loss("guest_io_errors", failure);
        foreach (string wrong in _wrongContent)
            tally.Loss("corrupt_reads", wrong);
    }

    public async Task JudgeTargetAsync(string target, ChaosTally tally, CancellationToken ct)
    {
        if (new FileInfo(target).Length != image.Size || !(await File.ReadAllBytesAsync(target, ct)).AsSpan().SequenceEqual(image.Bytes))
            tally.Loss("corrupt_blocks", $"{target} differs from the image");
    }

    private async Task ReadUntilAsync(NbdClient client, CancellationToken stop)
    {
        var buffer = new byte[MaxRead];
        while (!stop.IsCancellationRequested)
        {
            int length = random.Next(1, MaxRead / 512 + 1) * 512;
            long offset = random.NextInt64(0, (image.Size - length) / 512 + 1) * 512;
            bool excused = ExpectFailures;
            long started = Stopwatch.GetTimestamp();
            try
            {
                await client.ReadAsync(offset, buffer.AsMemory(0, length), CancellationToken.None);
            }
            catch (IOException e)
            {
                lock (_gate)
                {
                    if (excused || ExpectFailures || Excused(started))
                        ExpectedFailures++;
                    else
                        _unexpectedFailures.Add((started, Stopwatch.GetTimestamp(), $"read of {length} bytes at {offset} failed: {e.Message}"));
                }
                if (e is not Bmcast.Core.Storage.BlockDeviceException)
                    return;   // the connection itself is gone
                continue;
            }
            lock (_gate)
            {
                _reads++;
                if (!buffer.AsSpan(0, length).SequenceEqual(image.Bytes.AsSpan((int)offset, length)))
                    _wrongContent.Add($"read of {length} bytes at {offset} differs from the image");
            }
        }
    }
}
