using System.Diagnostics;

namespace Bmcast.Core.Storage;

/// <summary>
/// A link of fixed capacity shared by every reader: each transfer is scheduled after the ones
/// before it and completes when a link of <see cref="BytesPerSecond"/> would have delivered it.
/// Used by <c>bmcast serve --rate</c> so benchmarks compare image copying, network boot and
/// streaming over the same emulated link.
/// </summary>
public sealed class LinkEmulator(long bytesPerSecond)
{
    private static readonly TimeSpan MinimumSleep = TimeSpan.FromMilliseconds(2);
    private readonly Lock _gate = new();
    private long _linkFreeAt;

    public long BytesPerSecond { get; } = bytesPerSecond > 0 ? bytesPerSecond : throw new ArgumentOutOfRangeException(nameof(bytesPerSecond));

    /// <summary>Wait until <paramref name="bytes"/> would have crossed the link.</summary>
    public Task TransferAsync(long bytes, CancellationToken ct)
    {
        long now = Stopwatch.GetTimestamp();
        long duration = bytes * Stopwatch.Frequency / BytesPerSecond;
        long done;
        lock (_gate)
        {
            done = Math.Max(now, _linkFreeAt) + duration;
            _linkFreeAt = done;
        }
        // Timers fire no finer than about a millisecond: sleeping for each small transfer would charge
        // every 4 KiB read a whole millisecond. Small transfers go at once; the schedule still
        // advanced, so the next transfer waits for their share and the long-run rate holds.
        var wait = Stopwatch.GetElapsedTime(now, done);
        return wait > MinimumSleep ? Task.Delay(wait, ct) : Task.CompletedTask;
    }
}
