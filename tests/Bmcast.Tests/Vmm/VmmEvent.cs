using System.Globalization;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// One serial event of the hypervisor as the tests read it: parsed by the product's parser
/// (<see cref="Bmcast.Machines.BareMetal.VmmEvent"/>), with the console line kept for failure messages, and every
/// field a test reads required. The product reads a missing field as 0 (older hypervisors lack newer keys); a test
/// must not pass because a field it checks was never printed.
/// </summary>
public sealed record VmmEvent(Bmcast.Machines.BareMetal.VmmEvent Parsed, string Line)
{
    public const string Prefix = Bmcast.Machines.BareMetal.VmmEvent.Prefix;

    public string Name => Parsed.Name;

    public IReadOnlyDictionary<string, string> Fields => Parsed.Fields;

    /// <summary>The event on <paramref name="line"/> (which may carry other output before it), or null.</summary>
    public static VmmEvent? TryParse(string line) =>
        Bmcast.Machines.BareMetal.VmmEvent.TryParse(line) is { } parsed ? new VmmEvent(parsed, line) : null;

    public long Number(string key) => long.Parse(Text(key), CultureInfo.InvariantCulture);

    public string Text(string key) =>
        Fields.TryGetValue(key, out string? value) ? value : throw new KeyNotFoundException($"event {Name} has no {key}: {Line}");

    /// <summary>A chunk bitmap field as one flag per chunk (see the product's <c>Map</c>).</summary>
    public bool[] Map(string key, long chunks)
    {
        _ = Text(key);   // required, as every field a test reads
        return Parsed.Map(key, chunks);
    }
}
