using Bmcast.Engine;
using Bmcast.Protocols;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Bmcast.Agent.Metrics;

/// <summary>
/// bmcast's meters in Prometheus's text format through OpenTelemetry's exporter, one way for every process that
/// serves <c>/metrics</c> (<c>--metrics</c> on serve, stream and deploy; the controller). Exported names are the
/// instruments' own (each already <c>bmcast_</c>, unit and all; counters gain <c>_total</c>): no scope labels, no
/// <c>target_info</c>, so every family on the page is bmcast's (docs/metrics.md). Scrapes are not cached: each shows
/// the figures of that moment.
/// </summary>
/// <remarks>
/// prometheus-net's MeterAdapter (the controller's first try) showed nothing because its options default
/// <c>MetricFactory</c> to the default registry, so a custom <c>Registry</c> is ignored; it also publishes .NET
/// counters as gauges without <c>_total</c>, and drops series unchanged for five minutes.
/// </remarks>
public static class PrometheusExport
{
    /// <summary>The controller's meter (its deployments' figures), defined in Bmcast.Controller.</summary>
    public const string ControllerMeterName = "Bmcast.Controller";

    /// <summary>The meters exported: one per layer.</summary>
    public static readonly string[] MeterNames = [EngineMetrics.MeterName, ServerMetrics.MeterName, AgentMetrics.MeterName, ControllerMeterName];

    /// <summary>A provider that listens to bmcast's meters for the exporter; dispose it to stop listening.</summary>
    public static MeterProvider CreateProvider() => Sdk.CreateMeterProviderBuilder()
        .AddMeter(MeterNames)
        .AddPrometheusExporter(options =>
        {
            options.ScrapeResponseCacheDurationMilliseconds = 0;
            options.ScopeInfoEnabled = false;
            options.TargetInfoEnabled = false;
        })
        .Build();

    /// <summary>Serve <paramref name="provider"/>'s figures at <c>GET /metrics</c>.</summary>
    public static void MapMetrics(this IEndpointRouteBuilder endpoints, MeterProvider provider) =>
        endpoints.MapPrometheusScrapingEndpoint("/metrics", provider, configureBranchedPipeline: null, optionsName: null);
}
