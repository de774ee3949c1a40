using System.Globalization;

namespace Bmcast.Protocols.Aoe;

/// <summary>An AoE source as given to <c>--source</c>: <c>aoe:IFACE/eSHELF.SLOT</c>, e.g. <c>aoe:eth1/e0.3</c>.</summary>
public sealed record AoeAddress(string Interface, ushort Shelf, byte Slot)
{
    public const string Scheme = "aoe:";

    public static AoeAddress Parse(string text)
    {
        if (!text.StartsWith(Scheme, StringComparison.Ordinal))
            throw new FormatException($"'{text}' is not an AoE address (aoe:IFACE/eSHELF.SLOT)");
        string rest = text[Scheme.Length..];
        int slash = rest.IndexOf('/');
        int dot = rest.LastIndexOf('.');
        if (slash <= 0 || dot < slash || rest.Length <= slash + 1 || rest[slash + 1] != 'e'
            || !ushort.TryParse(rest.AsSpan(slash + 2, dot - slash - 2), NumberStyles.None, CultureInfo.InvariantCulture, out ushort shelf)
            || !byte.TryParse(rest.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out byte slot)
            || shelf == Core.Aoe.AoeProtocol.BroadcastMajor || slot == Core.Aoe.AoeProtocol.BroadcastMinor)
            throw new FormatException($"'{text}' is not an AoE address: expected aoe:IFACE/eSHELF.SLOT with shelf < 65535 and slot < 255");
        return new AoeAddress(rest[..slash], shelf, slot);
    }

    public override string ToString() => $"{Scheme}{Interface}/e{Shelf}.{Slot}";
}
