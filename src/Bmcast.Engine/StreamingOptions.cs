namespace Bmcast.Engine;

/// <summary>Tunables of a streaming deployment; the defaults suit a 1-10 Gbit/s link to the image server.</summary>
public sealed record StreamingOptions
{
    /// <summary>Source reads per chunk before a guest request fails with EIO.</summary>
    public int FetchAttempts { get; init; } = 5;
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(50);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the presence map is committed even without a guest FLUSH (dm-clone does the same).</summary>
    public TimeSpan CommitInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Background fetches kept in flight while the guest is idle; also the most background chunks at the source at
    /// once (a run counts each of its chunks; a run longer than this goes alone). Twice
    /// <see cref="BackgroundRunChunks"/>: two runs at the source at once, so the next run's read is on its way while
    /// the one before it arrives and is verified (with one, the source and the link idled during each verification
    /// and each turnaround).
    /// </summary>
    public int BackgroundParallelism { get; init; } = 16;

    /// <summary>
    /// The most adjacent chunks the background copier fetches in one source read (its pass in disk order; chunks of a
    /// boot profile are fetched one by one). 1 fetches chunk by chunk.
    /// </summary>
    public int BackgroundRunChunks { get; init; } = 8;

    /// <summary>The background copier waits until the guest has done no I/O for this long.</summary>
    public TimeSpan IdleGap { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Cap on background bytes per second; null = use the link fully.</summary>
    public long? BackgroundBytesPerSecond { get; init; }

    /// <summary>
    /// Stream onto a target that holds data but has no state file (<c>--force</c>). Without it such a start is refused:
    /// every block would be overwritten with the image.
    /// </summary>
    public bool OverwriteTarget { get; init; }
}
