using System.Diagnostics.Metrics;

namespace Bmcast.Agent.Metrics;

/// <summary>
/// The hosted deploy's instruments (meter <c>Bmcast.Agent</c>, docs/metrics.md): what a deployment achieved, once
/// per process. The guest's I/O through the agent is the engine's and the NBD export's to count.
/// </summary>
public static class AgentMetrics
{
    public const string MeterName = "Bmcast.Agent";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Gauge<double> TimeToReady = Meter.CreateGauge<double>("bmcast_agent_time_to_ready_seconds", "s",
        "From the deploy's start to the guest's ready marker; absent until the guest is ready");
    private static readonly Gauge<double> PivotPause = Meter.CreateGauge<double>("bmcast_agent_pivot_pause_seconds", "s",
        "How long the guest's I/O waited while its disk was pivoted onto the target; absent until the pivot");
    private static readonly Counter<long> PivotFailures = Meter.CreateCounter<long>("bmcast_agent_pivot_failures", null,
        "Pivots that failed and were rolled back (the guest runs on through the agent)");

    public static void RecordReady(TimeSpan timeToReady) => TimeToReady.Record(timeToReady.TotalSeconds);

    public static void RecordPivot(TimeSpan pause) => PivotPause.Record(pause.TotalSeconds);

    public static void RecordPivotFailure() => PivotFailures.Add(1);
}
