using System.Globalization;
using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// An AoE source as given to <c>--source</c>: <c>aoe:IFACE/eSHELF.SLOT</c>, e.g. <c>aoe:eth1/e0.3</c>, optionally
/// with <c>?manifest-shelf=M</c> and/or <c>profile-shelf=P</c> (joined by <c>&amp;</c>) when the server exports its
/// manifests or boot profiles elsewhere than on the next shelf and the one after.
/// </summary>
public sealed record AoeAddress(string Interface, ushort Shelf, byte Slot, ushort? ManifestShelf = null, ushort? ProfileShelf = null)
{
    public const string Scheme = "aoe:";
    private const string ManifestShelfParameter = "manifest-shelf";
    private const string ProfileShelfParameter = "profile-shelf";

    /// <summary>
    /// Where the image's signed manifest is looked for: the same slot on <see cref="ManifestShelf"/>, else on the
    /// next shelf (where <c>bmcast serve --aoe</c> puts it by default); null when the next shelf would be the broadcast one.
    /// </summary>
    public AoeAddress? Manifest => Companion(ManifestShelf, 1);

    /// <summary>Where the image's boot profile is looked for: the same slot on <see cref="ProfileShelf"/>, else two shelves up.</summary>
    public AoeAddress? Profile => Companion(ProfileShelf, 2);

    private AoeAddress? Companion(ushort? given, int above) =>
        given is { } shelf ? new AoeAddress(Interface, shelf, Slot)
        : Shelf + above < AoeProtocol.BroadcastMajor ? new AoeAddress(Interface, (ushort)(Shelf + above), Slot)
        : null;

    public static AoeAddress Parse(string text)
    {
        if (!text.StartsWith(Scheme, StringComparison.Ordinal))
            throw new FormatException($"'{text}' is not an AoE address (aoe:IFACE/eSHELF.SLOT)");
        string rest = text[Scheme.Length..];
        ushort? manifestShelf = null, profileShelf = null;
        int query = rest.IndexOf('?');
        if (query >= 0)
        {
            foreach (string option in rest[(query + 1)..].Split('&'))
            {
                int equals = option.IndexOf('=');
                string name = equals < 0 ? option : option[..equals];
                if (equals < 0 || name is not (ManifestShelfParameter or ProfileShelfParameter)
                    || !ushort.TryParse(option.AsSpan(equals + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort parsed))
                    throw new FormatException($"'{text}' is not an AoE address: the options are ?{ManifestShelfParameter}=SHELF and {ProfileShelfParameter}=SHELF");
                if (name == ManifestShelfParameter)
                    manifestShelf = parsed;
                else
                    profileShelf = parsed;
            }
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
        if (profileShelf == shelf || profileShelf == AoeProtocol.BroadcastMajor || (profileShelf is not null && profileShelf == manifestShelf))
            throw new FormatException($"'{text}': the profile shelf must differ from the image's shelf, the manifest shelf and 65535");
        return new AoeAddress(rest[..slash], shelf, slot, manifestShelf, profileShelf);
    }

    public override string ToString()
    {
        var options = new List<string>();
        if (ManifestShelf is { } manifest)
            options.Add($"{ManifestShelfParameter}={manifest.ToString(CultureInfo.InvariantCulture)}");
        if (ProfileShelf is { } profile)
            options.Add($"{ProfileShelfParameter}={profile.ToString(CultureInfo.InvariantCulture)}");
        return $"{Scheme}{Interface}/e{Shelf}.{Slot}{(options.Count == 0 ? "" : "?" + string.Join('&', options))}";
    }
}
