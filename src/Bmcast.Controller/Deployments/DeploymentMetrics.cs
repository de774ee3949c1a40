using System.Diagnostics;
using System.Diagnostics.Metrics;
using Bmcast.Agent.Metrics;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// The figures of the controller's deployments on <c>/metrics</c> (meter <c>Bmcast.Controller</c>), read at each
/// scrape from their records, which fold the events each deploy writes to its log: per running deployment (labels
/// <c>deployment</c>, <c>image</c>; an ended one leaves these series), and a count per state. The logs are how the
/// figures reach the controller because they already are its record of each deployment: they need no port per
/// deployment and a restarted controller catches up from them (docs/metrics.md).
/// </summary>
public sealed class DeploymentMetrics : IDisposable
{
    private readonly Meter _meter = new(PrometheusExport.ControllerMeterName);

    public DeploymentMetrics(DeploymentSupervisor deployments)
    {
        IEnumerable<Measurement<long>> Running(Func<Deployment, long?> figure) => Observe(deployments, figure);
        IEnumerable<Measurement<double>> RunningRatio(Func<Deployment, double?> figure) => Observe(deployments, figure);
        _meter.CreateObservableCounter("bmcast_deployment_on_demand_bytes", () => Running(d => d.OnDemandBytes), "By",
            "Bytes a running deployment fetched because its guest waited for them");
        _meter.CreateObservableCounter("bmcast_deployment_background_bytes", () => Running(d => d.BackgroundBytes), "By",
            "Bytes a running deployment's background copy fetched");
        _meter.CreateObservableCounter("bmcast_deployment_guest_written_bytes", () => Running(d => d.GuestWrittenBytes), "By",
            "Bytes a running deployment's guest wrote through its agent");
        _meter.CreateObservableCounter("bmcast_deployment_fetch_failures", () => Running(d => d.FetchFailures), null,
            "Source reads a running deployment retried");
        _meter.CreateObservableCounter("bmcast_deployment_verification_failures", () => Running(d => d.VerificationFailures), null,
            "Chunks a running deployment fetched that failed verification (discarded)");
        _meter.CreateObservableGauge("bmcast_deployment_present_ratio",
            () => RunningRatio(d => d.TotalBytes == 0 ? 0 : (double)d.PresentBytes / d.TotalBytes), "1",
            "Share of a running deployment's target holding its final content (0 to 1)");
        _meter.CreateObservableGauge("bmcast_deployment_time_to_ready_seconds", () => RunningRatio(d => d.TimeToReadySeconds), "s",
            "From a running deployment's start to its guest's ready marker; absent until ready");
        _meter.CreateObservableGauge("bmcast_deployments", () => ByState(deployments), null,
            "Deployments the controller knows, by state");
    }

    private static IEnumerable<Measurement<T>> Observe<T>(DeploymentSupervisor deployments, Func<Deployment, T?> figure) where T : struct
    {
        List<Measurement<T>> measurements = [];
        foreach (var d in deployments.All.Where(d => !d.State.IsTerminal()))
        {
            lock (d)
            {
                if (figure(d) is { } value)
                    measurements.Add(new Measurement<T>(value, new TagList { { "deployment", d.Id }, { "image", d.Image } }));
            }
        }
        return measurements;
    }

    private static IEnumerable<Measurement<long>> ByState(DeploymentSupervisor deployments)
    {
        var all = deployments.All.ToList();
        return Enum.GetValues<DeploymentState>().Select(state =>
            new Measurement<long>(all.Count(d => d.State == state), new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant())));
    }

    public void Dispose() => _meter.Dispose();
}
