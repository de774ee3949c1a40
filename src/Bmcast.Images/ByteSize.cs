using System.Globalization;

namespace Bmcast.Images;

/// <summary>Byte counts as operators write them: <c>64K</c>, <c>1M</c>, <c>4096</c>; binary units.</summary>
public static class ByteSize
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    public static string Format(long bytes)
    {
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} B" : value.ToString("0.#", CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    /// <summary>Parse <c>N</c>, <c>NK</c>, <c>NM</c>, <c>NG</c> (optionally followed by <c>iB</c> or <c>B</c>).</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var span = text.Trim().AsSpan();
        if (span.EndsWith("iB", StringComparison.OrdinalIgnoreCase))
            span = span[..^2];
        else if (span.EndsWith("B", StringComparison.OrdinalIgnoreCase))
            span = span[..^1];
        int shift = span.IsEmpty ? 0 : char.ToUpperInvariant(span[^1]) switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            _ => 0,
        };
        if (shift != 0)
            span = span[..^1];
        if (!long.TryParse(span, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value > long.MaxValue >> shift)
            return false;
        bytes = value << shift;
        return true;
    }
}
