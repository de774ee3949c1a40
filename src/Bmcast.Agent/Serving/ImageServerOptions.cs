using Bmcast.Protocols.Aoe;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Agent.Serving;

/// <summary>What an image server serves its store on: NBD, AoE or both, optionally behind an emulated link.</summary>
public sealed record ImageServerOptions
{
    /// <summary>Where NBD clients connect (null: no NBD).</summary>
    public NbdEndpoint? Nbd { get; init; }

    /// <summary>Connection limits and TLS of the NBD server.</summary>
    public NbdServerOptions NbdOptions { get; init; } = new();

    /// <summary>The network interface of the AoE target (null: no AoE); needs CAP_NET_RAW.</summary>
    public string? AoeInterface { get; init; }

    /// <summary>Shelves and allowed initiators of the AoE target.</summary>
    public AoeTargetOptions AoeOptions { get; init; } = new();

    /// <summary>
    /// Keep the first boot profile an agent offers for an image without one (<see cref="ProfileLearningCatalog"/>); off:
    /// only <c>bmcast image profile</c> sets profiles.
    /// </summary>
    public bool LearnProfiles { get; init; } = true;

    /// <summary>Emulate a link of this many bytes per second shared by every client (null: as fast as it goes), for benchmarks and the demo.</summary>
    public long? LinkBytesPerSecond { get; init; }
}
