using Bmcast.Core.Aoe;

namespace Bmcast.Protocols.Aoe;

public sealed record AoeTargetOptions
{
    /// <summary>The shelf (AoE major) every image slot lives on.</summary>
    public ushort Shelf { get; init; }

    /// <summary>The shelf of the images' manifest companions (each in its image's slot number); null when none are exported.</summary>
    public ushort? ManifestShelf { get; init; }

    /// <summary>The shelf of the images' boot profiles (each in its image's slot number, for images that have one); null when none are exported.</summary>
    public ushort? ProfileShelf { get; init; }

    /// <summary>Initiators allowed to talk to us; null allows everyone. Others' frames are dropped silently, like vblade's -m.</summary>
    public IReadOnlySet<MacAddress>? AllowedInitiators { get; init; }

    /// <summary>Requests an initiator may keep outstanding (Query Config's buffer count).</summary>
    public ushort BufferCount { get; init; } = 256;

    /// <summary>How often the catalog is read again for images imported, replaced or removed since.</summary>
    public TimeSpan SlotRefreshInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Receive loops over the socket; each handles its frames start to finish.</summary>
    public int Workers { get; init; } = Math.Max(2, Environment.ProcessorCount);
}
