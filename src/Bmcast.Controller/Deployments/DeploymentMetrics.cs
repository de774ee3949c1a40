using Prometheus;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// The figures of the controller's deployments on <c>/metrics</c>, read from their folded events at each scrape:
/// per running deployment (labels <c>deployment</c>, <c>image</c>), and a count per state.
/// </summary>
public static class DeploymentMetrics
{
    public static void Register(CollectorRegistry registry, DeploymentSupervisor deployments)
    {
        var metrics = Metrics.WithCustomRegistry(registry);
        string[] labels = ["deployment", "image"];
        var onDemand = metrics.CreateCounter("bmcast_deployment_on_demand_bytes_total", "Bytes a running deployment fetched because its guest waited for them", labels);
        var background = metrics.CreateCounter("bmcast_deployment_background_bytes_total", "Bytes a running deployment's background copy fetched", labels);
        var present = metrics.CreateGauge("bmcast_deployment_present_ratio", "Share of a running deployment's target holding its final content (0 to 1)", labels);
        var ready = metrics.CreateGauge("bmcast_deployment_time_to_ready_seconds", "From a running deployment's start to its guest's ready marker", labels);
        var byState = metrics.CreateGauge("bmcast_deployments", "Deployments the controller knows, by state", "state");
        registry.AddBeforeCollectCallback(() =>
        {
            // Ended deployments leave the per-deployment series.
            Clear(onDemand);
            Clear(background);
            Clear(present);
            Clear(ready);
            foreach (var d in deployments.All.Where(d => !d.State.IsTerminal()))
            {
                lock (d)
                {
                    string[] values = [d.Id, d.Image];
                    onDemand.WithLabels(values).IncTo(d.OnDemandBytes);
                    background.WithLabels(values).IncTo(d.BackgroundBytes);
                    present.WithLabels(values).Set(d.TotalBytes == 0 ? 0 : (double)d.PresentBytes / d.TotalBytes);
                    if (d.TimeToReadySeconds is { } seconds)
                        ready.WithLabels(values).Set(seconds);
                }
            }
            foreach (var state in Enum.GetValues<DeploymentState>())
                byState.WithLabels(state.ToString().ToLowerInvariant()).Set(deployments.All.Count(d => d.State == state));
        });
    }

    private static void Clear<TChild>(Collector<TChild> collector) where TChild : ChildBase
    {
        foreach (string[] values in collector.GetAllLabelValues().ToList())
            collector.RemoveLabelled(values);
    }
}
