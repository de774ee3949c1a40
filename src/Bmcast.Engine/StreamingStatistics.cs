namespace Bmcast.Engine;

/// <summary>
/// Counters an operator watches during a deployment; updated lock-free from any thread. Each update is recorded in
/// <see cref="EngineMetrics"/> too, for Prometheus.
/// </summary>
public sealed class StreamingStatistics
{
    private long _bytesOnDemand;
    private long _bytesBackground;
    private long _zeroChunks;
    private long _fetchFailures;
    private long _verificationFailures;
    private long _guestBytesWritten;
    private long _guestBytesRead;

    /// <summary>Bytes fetched from the source because a guest request needed them.</summary>
    public long BytesOnDemand => Volatile.Read(ref _bytesOnDemand);
    /// <summary>Bytes fetched from the source by the background copier.</summary>
    public long BytesBackground => Volatile.Read(ref _bytesBackground);
    /// <summary>Chunks the manifest says are zero, filled locally without a fetch.</summary>
    public long ZeroChunks => Volatile.Read(ref _zeroChunks);
    /// <summary>Source reads that failed (each is retried).</summary>
    public long FetchFailures => Volatile.Read(ref _fetchFailures);
    /// <summary>Fetched chunks whose hash did not match the manifest (never written).</summary>
    public long VerificationFailures => Volatile.Read(ref _verificationFailures);
    public long GuestBytesWritten => Volatile.Read(ref _guestBytesWritten);
    public long GuestBytesRead => Volatile.Read(ref _guestBytesRead);

    internal void AddFetched(FetchPriority priority, long bytes)
    {
        if (priority == FetchPriority.OnDemand)
            Interlocked.Add(ref _bytesOnDemand, bytes);
        else
            Interlocked.Add(ref _bytesBackground, bytes);
        EngineMetrics.RecordFetched(priority, bytes);
    }

    internal void AddZeroChunk()
    {
        Interlocked.Increment(ref _zeroChunks);
        EngineMetrics.RecordZeroChunk();
    }

    internal void AddFetchFailure()
    {
        Interlocked.Increment(ref _fetchFailures);
        EngineMetrics.RecordFetchFailure();
    }

    internal void AddVerificationFailure()
    {
        Interlocked.Increment(ref _verificationFailures);
        EngineMetrics.RecordVerificationFailure();
    }

    internal void AddGuestWrite(long bytes)
    {
        Interlocked.Add(ref _guestBytesWritten, bytes);
        EngineMetrics.RecordGuestWrite(bytes);
    }

    internal void AddGuestRead(long bytes)
    {
        Interlocked.Add(ref _guestBytesRead, bytes);
        EngineMetrics.RecordGuestRead(bytes);
    }
}
