using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Bmcast.Agent.Metrics;
using Bmcast.Engine;
using Bmcast.Protocols;

namespace Bmcast.Tests.Metrics;

/// <summary>
/// Prometheus's naming rules, checked on every instrument bmcast defines (the scrapes of real processes check the
/// pages they export: ServeMetricsTests, StreamMetricsTests, ControllerDeployTests), and the checker itself shown to
/// catch each kind of mistake.
/// </summary>
public sealed partial class MetricNamingTests
{
    [GeneratedRegex("^bmcast_(engine|nbd|aoe|agent)_[a-z0-9_]*[a-z0-9]$")]
    private static partial Regex LayerName { get; }

    [Fact]
    public void Every_instrument_of_the_engine_server_and_agent_meters_is_named_by_the_rules()
    {
        foreach (var type in new[] { typeof(EngineMetrics), typeof(ServerMetrics), typeof(AgentMetrics) })
            RuntimeHelpers.RunClassConstructor(type.TypeHandle);
        var instruments = new List<Instrument>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name is EngineMetrics.MeterName or ServerMetrics.MeterName or AgentMetrics.MeterName)
                    lock (instruments)
                        instruments.Add(instrument);
            };
            listener.Start();
        }

        Assert.Equal(3, instruments.Select(i => i.Meter.Name).Distinct().Count());
        Assert.True(instruments.Count >= 20, $"only {instruments.Count} instruments");
        foreach (var instrument in instruments)
        {
            string name = instrument.Name;
            Assert.True(LayerName.IsMatch(name), $"{name}: not bmcast_LAYER_snake_case");
            Assert.False(name.EndsWith("_total", StringComparison.Ordinal), $"{name}: the exporter adds _total to counters itself");
            Assert.False(string.IsNullOrWhiteSpace(instrument.Description), $"{name}: no description (HELP)");
            string? expectedSuffix = instrument.Unit switch
            {
                "By" => "_bytes",
                "s" => "_seconds",
                "1" => "_ratio",
                null => null,
                var other => throw new InvalidOperationException($"{name}: unit {other} is not a base unit (By, s, 1)"),
            };
            if (expectedSuffix is not null)
                Assert.True(name.EndsWith(expectedSuffix, StringComparison.Ordinal), $"{name}: unit {instrument.Unit} but no {expectedSuffix} suffix");
            else
                Assert.False(name.EndsWith("_bytes", StringComparison.Ordinal) || name.EndsWith("_seconds", StringComparison.Ordinal), $"{name}: a unit suffix without the unit");
            bool histogram = instrument.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal);
            Assert.True(!histogram || instrument.Unit is "s" or "By", $"{name}: a histogram without a unit");
        }
    }

    [Fact]
    public void The_page_checker_accepts_a_good_page()
    {
        var page = PrometheusPage.Parse("""
            # HELP bmcast_x_bytes_total Bytes.
            # TYPE bmcast_x_bytes_total counter
            bmcast_x_bytes_total{op="read"} 5
            # HELP bmcast_x_present_ratio Share.
            # TYPE bmcast_x_present_ratio gauge
            bmcast_x_present_ratio 0.5
            # HELP bmcast_x_duration_seconds Time.
            # TYPE bmcast_x_duration_seconds histogram
            bmcast_x_duration_seconds_bucket{le="0.1"} 1
            bmcast_x_duration_seconds_bucket{le="1"} 2
            bmcast_x_duration_seconds_bucket{le="+Inf"} 2
            bmcast_x_duration_seconds_sum 0.6
            bmcast_x_duration_seconds_count 2
            """);

        Assert.Empty(page.RuleViolations());
        Assert.Equal(5, page.Single("bmcast_x_bytes_total", "op=read"));
    }

    [Theory]
    [InlineData("# HELP x_total X.\n# TYPE x_total counter\nx_total 1", "does not start with bmcast_")]
    [InlineData("# HELP bmcast_x X.\n# TYPE bmcast_x counter\nbmcast_x 1", "do not end in _total")]
    [InlineData("# HELP bmcast_x_milliseconds X.\n# TYPE bmcast_x_milliseconds gauge\nbmcast_x_milliseconds 1", "not a base unit")]
    [InlineData("# HELP bmcast_x_ratio X.\n# TYPE bmcast_x_ratio gauge\nbmcast_x_ratio 1.5", "outside 0..1")]
    [InlineData("# HELP bmcast_x_bytes_read_total X.\n# TYPE bmcast_x_bytes_read_total counter\nbmcast_x_bytes_read_total 1", "unit is not the last part")]
    [InlineData("# HELP bmcast_x_seconds X.\n# TYPE bmcast_x_seconds histogram\nbmcast_x_seconds_sum 1\nbmcast_x_seconds_count 1", "without buckets")]
    [InlineData("# HELP bmcast_x_total X.\n# TYPE bmcast_x_total counter\nbmcast_x_total 1\nbmcast_y 2", "no declared family")]
    [InlineData("# TYPE bmcast_x_total counter\nbmcast_x_total 1", "no HELP")]
    public void The_page_checker_catches_each_broken_rule(string text, string expected)
    {
        var problems = PrometheusPage.Parse(text).RuleViolations();

        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
    }
}
