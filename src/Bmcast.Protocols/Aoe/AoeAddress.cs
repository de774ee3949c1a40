using System.Globalization;
using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// An AoE source as given to <c>--source</c>: <c>aoe:IFACE/eSHELF.SLOT</c>, e.g. <c>aoe:eth1/e0.3</c>, optionally
/// with <c>?manifest-shelf=M</c> when the server exports its manifests elsewhere than on the next shelf.
/// </summary>
public sealed record AoeAddress(string Interface, ushort Shelf, byte Slot, ushort? ManifestShelf = null)
{
    public const string Scheme = "aoe:";
    private const string ManifestShelfParameter = "?manifest-shelf=";

    /// <summary>
    /// Where the image's signed manifest is looked for: the same slot on <see cref="ManifestShelf"/>, else on the
    /// next shelf (where <c>bmcast serve --aoe</c> puts it by default); null when the next shelf would be the broadcast one.
    /// </summary>
    public AoeAddress? Manifest =>
        ManifestShelf is { } shelf ? new AoeAddress(Interface, shelf, Slot)
        : Shelf + 1 < AoeProtocol.BroadcastMajor ? new AoeAddress(Interface, (ushort)(Shelf + 1), Slot)
        : null;

    public static AoeAddress Parse(string text)
    {
        if (!text.StartsWith(Scheme, StringComparison.Ordinal))
            throw new FormatException($"'{text}' is not an AoE address (aoe:IFACE/eSHELF.SLOT)");
        string rest = text[Scheme.Length..];
        ushort? manifestShelf = null;
        int query = rest.IndexOf('?');
        if (query >= 0)
        {
            if (!rest[query..].StartsWith(ManifestShelfParameter, StringComparison.Ordinal)
                || !ushort.TryParse(rest.AsSpan(query + ManifestShelfParameter.Length), NumberStyles.None, CultureInfo.InvariantCulture, out ushort parsed))
                throw new FormatException($"'{text}' is not an AoE address: the only option is {ManifestShelfParameter}SHELF");
            manifestShelf = parsed;
            rest = rest[..query];
        }
        int slash = rest.IndexOf('/');
        int dot = rest.LastIndexOf('.');
        if (slash <= 0 || dot < slash || rest.Length <= slash + 1 || rest[slash + 1] != 'e'
            || !ushort.TryParse(rest.AsSpan(slash + 2, dot - slash - 2), NumberStyles.None, CultureInfo.InvariantCulture, out ushort shelf)
            || !byte.TryParse(rest.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out byte slot)
            || shelf == AoeProtocol.BroadcastMajor || slot == AoeProtocol.BroadcastMinor)
            throw new FormatException($"'{text}' is not an AoE address: expected aoe:IFACE/eSHELF.SLOT with shelf < 65535 and slot < 255");
        if (manifestShelf == shelf || manifestShelf == AoeProtocol.BroadcastMajor)
            throw new FormatException($"'{text}': the manifest shelf must differ from the image's shelf and from 65535");
        return new AoeAddress(rest[..slash], shelf, slot, manifestShelf);
    }

    public override string ToString() =>
        $"{Scheme}{Interface}/e{Shelf}.{Slot}{(ManifestShelf is { } shelf ? ManifestShelfParameter + shelf.ToString(CultureInfo.InvariantCulture) : "")}";
}
