using System.Globalization;
using System.Text.RegularExpressions;

namespace Bmcast.Tests.Vmm;

/// <summary>
/// One serial event of the hypervisor, as vmm/README.md ("Serial events") defines them:
/// <c>bmcast-vmm: event=NAME key=value ...</c>, keys <c>[a-z_]+</c>, values without spaces.
/// </summary>
public sealed partial record VmmEvent(string Name, IReadOnlyDictionary<string, string> Fields, string Line)
{
    public const string Prefix = "bmcast-vmm: event=";

    [GeneratedRegex(@"bmcast-vmm: event=(?<name>[a-z_]+)(?<fields>( [a-z_]+=\S+)*)\s*$")]
    private static partial Regex Shape();

    /// <summary>The event on <paramref name="line"/> (which may carry other output before it), or null.</summary>
    public static VmmEvent? TryParse(string line)
    {
        var match = Shape().Match(line);
        if (!match.Success)
            return null;
        var fields = match.Groups["fields"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
        return new VmmEvent(match.Groups["name"].Value, fields, line);
    }

    public long Number(string key) =>
        Fields.TryGetValue(key, out string? value) ? long.Parse(value, CultureInfo.InvariantCulture)
            : throw new KeyNotFoundException($"event {Name} has no {key}: {Line}");

    public string Text(string key) =>
        Fields.TryGetValue(key, out string? value) ? value : throw new KeyNotFoundException($"event {Name} has no {key}: {Line}");

    /// <summary>A chunk bitmap field (hex, byte 0 first, bit c of byte c / 8 for chunk c) as one flag per chunk.</summary>
    public bool[] Map(string key, long chunks)
    {
        byte[] bytes = Convert.FromHexString(Text(key));
        return Enumerable.Range(0, (int)chunks).Select(c => (bytes[c >> 3] >> (c & 7) & 1) != 0).ToArray();
    }
}
