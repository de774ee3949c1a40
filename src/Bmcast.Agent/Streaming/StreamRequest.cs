using Bmcast.Engine;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Agent.Streaming;

/// <summary>Everything <c>bmcast stream</c> was asked to do, parsed and defaulted.</summary>
/// <param name="Sources">The <c>--source</c> URIs: one, or several NBD servers of the same image to spread fetches over.</param>
public sealed record StreamRequest(
    IReadOnlyList<string> Sources,
    string TargetPath,
    string StatePath,
    NbdEndpoint Export,
    string? ManifestPath,
    string? TrustedKey,
    string KnownKeysPath,
    StreamingOptions Options)
{
    /// <summary>How long reads wait for a lost image server to come back before failing (default 60 s).</summary>
    public TimeSpan OutageLimit { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A boot profile to prefetch first, instead of the one the image server publishes.</summary>
    public string? BootProfilePath { get; init; }

    /// <summary>Record the guest's requests (<see cref="StreamAgent.Trace"/>) until the caller stops the recording (at ready).</summary>
    public bool RecordTrace { get; init; }

    /// <summary>What an nbds:// source trusts and presents (null: the system trust store, no client certificate).</summary>
    public NbdClientTls? SourceTls { get; init; }
}
