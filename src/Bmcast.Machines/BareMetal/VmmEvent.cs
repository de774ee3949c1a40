using System.Globalization;

namespace Bmcast.Machines.BareMetal;

/// <summary>
/// One serial event of the hypervisor, as vmm/README.md ("Serial events") defines them:
/// <c>bmcast-vmm: event=NAME key=value ...</c>, keys <c>[a-z_]+</c>, values without spaces (decimal unless the
/// event says otherwise). Keys are only ever added, so unknown ones are kept and ignored.
/// </summary>
public sealed record VmmEvent(string Name, IReadOnlyDictionary<string, string> Fields)
{
    public const string Prefix = "bmcast-vmm: event=";

    /// <summary>The event on <paramref name="line"/> (other console output may come before it), or null if there is none.</summary>
    public static VmmEvent? TryParse(string line)
    {
        int start = line.IndexOf(Prefix, StringComparison.Ordinal);
        if (start < 0)
            return null;
        string[] words = line[(start + Prefix.Length)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0 || !IsKey(words[0]))
            return null;
        var fields = new Dictionary<string, string>();
        foreach (string word in words.Skip(1))
        {
            int equals = word.IndexOf('=');
            if (equals <= 0 || !IsKey(word[..equals]))
                return null;
            fields[word[..equals]] = word[(equals + 1)..];
        }
        return new VmmEvent(words[0], fields);
    }

    /// <summary>A decimal field; 0 when the event does not carry it.</summary>
    public long Number(string key) =>
        Fields.TryGetValue(key, out string? value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long number) ? number : 0;

    public string Text(string key) => Fields.TryGetValue(key, out string? value) ? value : "";

    /// <summary>A chunk bitmap field (hex, byte 0 first, bit c mod 8 of byte c / 8 for chunk c) as one flag per chunk.</summary>
    public bool[] Map(string key, long chunks)
    {
        byte[] bytes = Convert.FromHexString(Text(key));
        if (bytes.Length * 8L < chunks)
            throw new InvalidDataException($"event {Name}: {key} holds {bytes.Length * 8} chunks, not {chunks}");
        var map = new bool[chunks];
        for (long c = 0; c < chunks; c++)
            map[c] = (bytes[c >> 3] >> (int)(c & 7) & 1) != 0;
        return map;
    }

    private static bool IsKey(string word) => word.Length > 0 && word.All(c => c is >= 'a' and <= 'z' or '_');
}
