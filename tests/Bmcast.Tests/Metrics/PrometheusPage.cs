using System.Globalization;
using System.Text.RegularExpressions;

namespace Bmcast.Tests.Metrics;

/// <summary>One sample line of a scrape: <c>name{label="value",...} value</c>.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A scraped <c>/metrics</c> page in Prometheus's text format, parsed: the families its <c># TYPE</c> and <c># HELP</c>
/// lines declare and its samples. <see cref="RuleViolations"/> checks every name against Prometheus's naming rules as
/// bmcast applies them (docs/metrics.md).
/// </summary>
internal sealed partial class PrometheusPage
{
    private static readonly string[] NonBaseUnits =
        ["_milliseconds", "_microseconds", "_ms", "_minutes", "_hours", "_kilobytes", "_megabytes", "_kib", "_mib", "_gib", "_bits", "_percent"];

    private PrometheusPage(string text, Dictionary<string, string> types, HashSet<string> helped, List<PrometheusSample> samples)
    {
        Text = text;
        Types = types;
        Helped = helped;
        Samples = samples;
    }

    public string Text { get; }

    /// <summary>Family name to type (counter, gauge, histogram, ...).</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    private HashSet<string> Helped { get; }

    public IReadOnlyList<PrometheusSample> Samples { get; }

    [GeneratedRegex("""^(?<name>[^\s{]+)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$""")]
    private static partial Regex SampleLine { get; }

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(?:[^"\\]|\\.)*)",?""")]
    private static partial Regex LabelPair { get; }

    [GeneratedRegex("^bmcast_[a-z0-9_]*[a-z0-9]$")]
    private static partial Regex BmcastName { get; }

    public static PrometheusPage Parse(string text)
    {
        var types = new Dictionary<string, string>();
        var helped = new HashSet<string>();
        var samples = new List<PrometheusSample>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || line == "# EOF")
                continue;
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ');
                types[parts[2]] = parts[3];
                continue;
            }
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                helped.Add(line.Split(' ')[2]);
                continue;
            }
            if (line.StartsWith('#'))
                continue;
            var match = SampleLine.Match(line);
            Assert.True(match.Success, $"not a sample line: {line}");
            var labels = LabelPair.Matches(match.Groups["labels"].Value)
                .ToDictionary(m => m.Groups["key"].Value, m => Regex.Unescape(m.Groups["value"].Value));
            samples.Add(new PrometheusSample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value)));
        }
        return new PrometheusPage(text, types, helped, samples);
    }

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <summary>Samples named <paramref name="name"/> whose labels include every one of <paramref name="labels"/> (KEY=VALUE).</summary>
    public IEnumerable<PrometheusSample> Matching(string name, params string[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l =>
        {
            int equals = l.IndexOf('=');
            return s.Labels.TryGetValue(l[..equals], out var value) && value == l[(equals + 1)..];
        }));

    /// <summary>The sum of <see cref="Matching"/>'s values; 0 when the page has none (a counter not yet incremented).</summary>
    public double Sum(string name, params string[] labels) => Matching(name, labels).Sum(s => s.Value);

    /// <summary>The one sample <see cref="Matching"/> finds.</summary>
    public double Single(string name, params string[] labels)
    {
        var found = Matching(name, labels).ToList();
        Assert.True(found.Count == 1, $"{found.Count} samples of {name} {string.Join(',', labels)} on the page:\n{Text}");
        return found[0].Value;
    }

    /// <summary>Every way the page breaks the naming rules; empty when it keeps them.</summary>
    public List<string> RuleViolations()
    {
        var problems = new List<string>();
        foreach (var (family, type) in Types)
        {
            if (!BmcastName.IsMatch(family))
                problems.Add($"{family}: does not start with bmcast_ or is not lower_snake_case");
            if (!Helped.Contains(family))
                problems.Add($"{family}: no HELP");
            if (NonBaseUnits.FirstOrDefault(unit => family.Contains(unit + "_", StringComparison.Ordinal) || family.EndsWith(unit, StringComparison.Ordinal)) is { } bad)
                problems.Add($"{family}: {bad[1..]} is not a base unit (seconds, bytes, ratio)");
            string stem = type == "counter" ? family.EndsWith("_total", StringComparison.Ordinal) ? family[..^"_total".Length] : family : family;
            if (stem.Contains("_bytes_", StringComparison.Ordinal) || stem.Contains("_seconds_", StringComparison.Ordinal))
                problems.Add($"{family}: the unit is not the last part of the name (before _total)");
            var samples = Samples.Where(s => s.Name == family || s.Name.StartsWith(family + "_", StringComparison.Ordinal)).ToList();
            switch (type)
            {
                case "counter":
                    if (samples.Any(s => !s.Name.EndsWith("_total", StringComparison.Ordinal)))
                        problems.Add($"{family}: a counter whose samples do not end in _total");
                    if (samples.Any(s => s.Value < 0))
                        problems.Add($"{family}: a negative counter");
                    break;
                case "gauge":
                    if (family.EndsWith("_total", StringComparison.Ordinal))
                        problems.Add($"{family}: a gauge named like a counter");
                    if (family.EndsWith("_ratio", StringComparison.Ordinal) && samples.Any(s => s.Value is < 0 or > 1))
                        problems.Add($"{family}: a ratio outside 0..1");
                    break;
                case "histogram":
                    if (!family.EndsWith("_seconds", StringComparison.Ordinal) && !family.EndsWith("_bytes", StringComparison.Ordinal))
                        problems.Add($"{family}: a histogram without its unit (_seconds, _bytes)");
                    var buckets = samples.Where(s => s.Name == family + "_bucket").ToList();
                    if (buckets.Count < 3 || buckets.Any(b => !b.Labels.ContainsKey("le")) || !buckets.Any(b => b.Labels["le"] == "+Inf"))
                        problems.Add($"{family}: a histogram without buckets (le, ending in +Inf)");
                    if (!samples.Any(s => s.Name == family + "_sum") || !samples.Any(s => s.Name == family + "_count"))
                        problems.Add($"{family}: a histogram without _sum and _count");
                    break;
                default:
                    problems.Add($"{family}: type {type}, not counter, gauge or histogram");
                    break;
            }
        }
        foreach (var sample in Samples.Where(s => !Types.Keys.Any(f => s.Name == f || s.Name.StartsWith(f + "_", StringComparison.Ordinal))))
            problems.Add($"{sample.Name}: a sample of no declared family");
        return problems;
    }

    /// <summary>Assert the page keeps every naming rule (<see cref="RuleViolations"/>).</summary>
    public void AssertFollowsNamingRules()
    {
        var problems = RuleViolations();
        Assert.True(problems.Count == 0, "naming rules broken:\n" + string.Join('\n', problems) + "\n\npage:\n" + Text);
    }

    public static async Task<PrometheusPage> ScrapeAsync(Uri url, CancellationToken ct)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var response = await client.GetAsync(url, ct);
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode}");
        string text = await response.Content.ReadAsStringAsync(ct);
        // Nothing recorded yet is an empty page (instruments appear with their first measurement).
        string contentType = response.Content.Headers.ContentType?.MediaType ?? "";
        Assert.True(text.Length == 0 || contentType is "text/plain" or "application/openmetrics-text", $"GET {url}: content type {contentType}");
        return Parse(text);
    }

    [GeneratedRegex(@"metrics on (?<url>http://\S+/metrics)")]
    private static partial Regex MetricsLine { get; }

    /// <summary>Where a bmcast process started with <c>--metrics HOST:0</c> serves its metrics (its log says).</summary>
    public static async Task<Uri> UrlOfAsync(BmcastProcess process, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            if (MetricsLine.Match(process.Stderr) is { Success: true } match)
                return new Uri(match.Groups["url"].Value);
            Assert.False(process.HasExited, $"bmcast exited before serving metrics:\n{process.Stderr}");
            Assert.True(DateTime.UtcNow < deadline, $"no 'metrics on' line within a minute:\n{process.Stderr}");
            await Task.Delay(50, ct);
        }
    }
}
