using Bmcast.Core.Manifests;
using Bmcast.Engine.Sources;
using Bmcast.Engine.Verification;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Streaming;

/// <summary>
/// Opens a deployment's sources (issue 14): one of any kind, as always, or several NBD servers of the same image.
/// Several must serve one image: each publishes its manifest, and every root must equal the first source's (a mismatch
/// names both sources and starts nothing), or the operator gives <c>--manifest</c>, which verifies every chunk from
/// all of them. Each source keeps its own <see cref="SourceIdentityCheck"/>, so one found serving another image later
/// is refused on its own and the set goes on with the rest. Every source must answer at the start (its root cannot be
/// checked otherwise); after that, any may fail.
/// </summary>
public static class DeploymentSources
{
    /// <summary>The sources as a set, the deployment's manifest (null: unverified), and the first source's boot profile.</summary>
    public static async Task<(SourceSet Sources, Manifest? Manifest, Func<CancellationToken, Task<byte[]?>> FetchBootProfile)> OpenAsync(
        StreamRequest request, ManifestTrust trust, Func<string, SourceIdentityCheck> identityOf, ILogger logger, CancellationToken ct)
    {
        var uris = request.Sources;
        if (uris.Count == 0)
            throw new ArgumentException("no --source given");
        bool several = uris.Count > 1;
        if (several)
            CheckCombinable(uris);
        var connector = new SourceConnector(trust, several ? TimeSpan.Zero : request.OutageLimit, request.SourceTls, logger);
        var opened = new List<OpenedSource>();
        try
        {
            foreach (string uri in uris)
                opened.Add(await connector.OpenAsync(uri, request.ManifestPath, request.TrustedKey, identityOf(uri), ct));
            if (several)
                CheckSameImage(uris, opened);
            var sources = new SourceSet([.. opened.Select(o => o.Source)], request.OutageLimit, logger);
            return (sources, opened[0].Manifest, opened[0].FetchBootProfile);
        }
        catch
        {
            foreach (var source in opened)
                await source.Source.DisposeAsync();
            throw;
        }
    }

    private static void CheckCombinable(IReadOnlyList<string> uris)
    {
        if (uris.FirstOrDefault(u => !u.StartsWith("nbd", StringComparison.Ordinal)) is { } other)
            throw new ArgumentException($"--source {other}: only NBD sources (nbd://, nbds://, nbd+unix://, nbds+unix://) can be given several times");
        if (uris.GroupBy(u => u).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"--source {twice.Key} is given {twice.Count()} times");
    }

    private static void CheckSameImage(IReadOnlyList<string> uris, List<OpenedSource> opened)
    {
        for (int i = 0; i < opened.Count; i++)
            if (opened[i].Manifest is null)
                throw new ManifestTrustException(
                    $"source {uris[i]} publishes no manifest: several sources must each publish the image's manifest (or give --manifest) so that they are known to serve the same image");
        string root = opened[0].Manifest!.RootHashHex;
        for (int i = 1; i < opened.Count; i++)
            if (opened[i].Manifest!.RootHashHex is var other && other != root)
                throw new ManifestTrustException(
                    $"sources {uris[0]} (manifest root {root[..16]}) and {uris[i]} (manifest root {other[..16]}) serve different images: every --source must serve the same image");
    }
}
