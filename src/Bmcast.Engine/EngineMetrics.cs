using System.Diagnostics.Metrics;

namespace Bmcast.Engine;

/// <summary>
/// The engine's instruments (meter <c>Bmcast.Engine</c>, docs/metrics.md). Each name is its Prometheus family name
/// less the <c>_total</c> the exporter adds to counters. Tags are single cached key/value pairs of constant strings:
/// recording allocates nothing, which the engine's allocation budgets check with a listener attached.
/// </summary>
public static class EngineMetrics
{
    public const string MeterName = "Bmcast.Engine";

    private static readonly Meter Meter = new(MeterName);
    private static readonly List<StreamingDisk> Disks = [];

    private static readonly Counter<long> Fetched = Meter.CreateCounter<long>("bmcast_engine_fetched_bytes", "By",
        "Bytes fetched from the image source and verified, by priority (on_demand: a guest waited; background)");
    private static readonly Counter<long> SourceFetched = Meter.CreateCounter<long>("bmcast_engine_source_fetched_bytes", "By",
        "Bytes fetched and verified, by source (the URI given with --source)");
    private static readonly Histogram<double> FetchDuration = Meter.CreateHistogram<double>("bmcast_engine_fetch_duration_seconds", "s",
        "Time to fetch and verify one chunk, retries included, by priority", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
    private static readonly Counter<long> FetchFailures = Meter.CreateCounter<long>("bmcast_engine_fetch_failures", null,
        "Source reads that failed (each is retried, up to the fetch attempts)");
    private static readonly Counter<long> VerificationFailures = Meter.CreateCounter<long>("bmcast_engine_verification_failures", null,
        "Fetched chunks whose hash did not match the manifest: discarded, never written");
    private static readonly Counter<long> ZeroChunks = Meter.CreateCounter<long>("bmcast_engine_zero_chunks", null,
        "Chunks the manifest says are zero, filled locally without a fetch");
    private static readonly Counter<long> GuestBytes = Meter.CreateCounter<long>("bmcast_engine_guest_bytes", "By",
        "Bytes the guest read or wrote (zeroes included) through the streaming disk, by op");
    private static readonly Counter<long> GuestFlushes = Meter.CreateCounter<long>("bmcast_engine_guest_flushes", null,
        "Guest FLUSH and FUA requests, each committing the presence map");

    private static readonly KeyValuePair<string, object?> OnDemand = new("priority", "on_demand");
    private static readonly KeyValuePair<string, object?> Background = new("priority", "background");
    private static readonly KeyValuePair<string, object?> Read = new("op", "read");
    private static readonly KeyValuePair<string, object?> Write = new("op", "write");

    static EngineMetrics()
    {
        Meter.CreateObservableGauge("bmcast_engine_present_ratio", () => Observe(p => p.Fraction), "1",
            "Share of the streaming disks' blocks holding their final content (0 to 1)");
        Meter.CreateObservableGauge("bmcast_engine_present_bytes", () => Observe(p => p.PresentBytes), "By",
            "Bytes of the streaming disks holding their final content");
        Meter.CreateObservableGauge("bmcast_engine_disk_size_bytes", () => Observe(p => p.TotalBytes), "By",
            "Size of the streaming disks");
    }

    /// <summary>Report <paramref name="disk"/>'s presence in the gauges until the result is disposed (its session's lifetime).</summary>
    internal static IDisposable Track(StreamingDisk disk)
    {
        lock (Disks)
            Disks.Add(disk);
        return new Untrack(disk);
    }

    internal static void RecordFetched(FetchPriority priority, long bytes) => Fetched.Add(bytes, Tag(priority));

    internal static void RecordSourceFetched(KeyValuePair<string, object?> source, long bytes) => SourceFetched.Add(bytes, source);

    internal static void RecordFetchDuration(FetchPriority priority, TimeSpan duration) => FetchDuration.Record(duration.TotalSeconds, Tag(priority));

    internal static void RecordFetchFailure() => FetchFailures.Add(1);

    internal static void RecordVerificationFailure() => VerificationFailures.Add(1);

    internal static void RecordZeroChunk() => ZeroChunks.Add(1);

    internal static void RecordGuestRead(long bytes) => GuestBytes.Add(bytes, Read);

    internal static void RecordGuestWrite(long bytes) => GuestBytes.Add(bytes, Write);

    internal static void RecordGuestFlush() => GuestFlushes.Add(1);

    private static KeyValuePair<string, object?> Tag(FetchPriority priority) => priority == FetchPriority.OnDemand ? OnDemand : Background;

    /// <summary>
    /// One figure over every tracked disk (a process streams one, normally): the ratio of their summed bytes, else the
    /// sum; nothing while none is tracked, so a server's scrape shows no streaming figures.
    /// </summary>
    private static IEnumerable<Measurement<double>> Observe(Func<StreamingProgress, double> figure)
    {
        StreamingProgress[] progress;
        lock (Disks)
            progress = [.. Disks.Select(d => StreamingProgress.Of(d, TimeSpan.Zero))];
        if (progress.Length == 0)
            return [];
        var total = new StreamingProgress(progress.Sum(p => p.TotalBytes), progress.Sum(p => p.PresentBytes), 0, 0, 0, 0, 0, 0, TimeSpan.Zero, []);
        return [new Measurement<double>(figure(total))];
    }

    private sealed class Untrack(StreamingDisk disk) : IDisposable
    {
        public void Dispose()
        {
            lock (Disks)
                Disks.Remove(disk);
        }
    }
}
