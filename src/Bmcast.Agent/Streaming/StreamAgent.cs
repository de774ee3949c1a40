using System.Diagnostics;
using Bmcast.Agent.Events;
using Bmcast.Agent.Locking;
using Bmcast.Engine;
using Bmcast.Engine.Tracing;
using Bmcast.Engine.Verification;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Streaming;

/// <summary>
/// The streaming agent's lifetime: connect to the source (or sources, <see cref="DeploymentSources"/>), open or resume the deployment, export the
/// disk, report progress until complete, keep serving until stopped, then commit and close. The target and state file
/// are claimed (<see cref="DeploymentLock"/>) for the agent's life, or for longer by a caller that passes its own
/// <paramref name="claim"/> (<c>bmcast deploy</c>, which keeps them after the pivot).
/// </summary>
public sealed class StreamAgent(StreamRequest request, IDeploymentEventSink events, ILoggerFactory logging, DeploymentLock? claim = null)
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
    /// <summary>How long offering the boot profile may take: a server that does not answer must not hold up the deployment's end.</summary>
    private static readonly TimeSpan OfferPatience = TimeSpan.FromSeconds(30);
    private readonly TaskCompletionSource _exported = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = new();
    private StreamingDisk? _disk;
    private NbdUri? _learningServer;
    private Task<byte[]?> _publishedProfile = Task.FromResult<byte[]?>(null);

    /// <summary>Completes once the disk is exported and clients may connect.</summary>
    public Task Exported => _exported.Task;

    /// <summary>Completes once every block is present and committed.</summary>
    public Task Complete => _complete.Task;

    /// <summary>
    /// The boot profile a deployment learnt: the chunks its boot read up to ready, from <paramref name="trace"/> when it
    /// has one; without one, the chunks the guest waited for, which leave out those the copier had brought in first.
    /// </summary>
    public IReadOnlyList<long> BootOrder(IoTrace? trace) =>
        trace is not null && _disk is { } disk ? BootProfile.OfReads(trace, disk.Geometry, disk.IsKnownZeroChunk) : _disk?.OnDemandOrder.Snapshot() ?? [];

    /// <summary>The guest's requests since the agent started, when <see cref="StreamRequest.RecordTrace"/> asked for them.</summary>
    public IoTraceRecorder? Trace { get; } = request.RecordTrace ? new IoTraceRecorder() : null;

    /// <summary>The deployment's progress now, once the disk is open.</summary>
    public StreamingProgress? Progress => _disk is null ? null : StreamingProgress.Of(_disk, _clock.Elapsed);

    public async Task RunAsync(CancellationToken ct)
    {
        var clock = _clock;
        clock.Start();
        var log = logging.CreateLogger("bmcast.stream");
        using var ownClaim = claim is null ? DeploymentLock.Acquire(request.TargetPath, request.StatePath) : null;
        var held = claim ?? ownClaim!;
        var (source, manifest, fetchProfile) = await DeploymentSources.OpenAsync(request, new ManifestTrust(request.KnownKeysPath, log),
            uri => Watched(new SourceIdentityCheck(uri, log)), log, ct);
        var published = fetchProfile(ct);
        _publishedProfile = published;
        // Only a bmcast server (it published the image's signed manifest) is offered the profile (BootProfileOffer): the
        // first source, whose profile the deployment would have used.
        string first = request.Sources[0];
        if (manifest is not null && request.ManifestPath is null && request.BootProfilePath is null && first.StartsWith("nbd", StringComparison.Ordinal))
            _learningServer = NbdUri.Parse(first);
        await using var sourceLifetime = source;
        await using var session = await StreamingSession.OpenAsync(source, manifest, request.TargetPath, request.StatePath, request.Options, log, ct);
        held.ClaimCreated(request.TargetPath, request.StatePath);
        // A profile file given is checked before anything starts; a published one may still be on its way.
        if (request.BootProfilePath is { } profilePath)
            Prefetch(session, await File.ReadAllTextAsync(profilePath, ct), log);
        var disk = session.Disk;
        _disk = disk;
        var catalog = new SingleExportCatalog(Path.GetFileName(request.TargetPath), $"streaming {source.Description}",
            Trace is null ? disk : new TracingBlockDevice(disk, Trace));
        await using var server = new NbdServer(catalog, logging.CreateLogger<NbdServer>());
        await server.StartAsync(request.Export, ct);
        log.LogInformation("{Mode} {Source} -> {Target}, exported on {Export} ({Verified})",
            session.Resumed ? "resuming" : "streaming", source.Description, request.TargetPath, request.Export,
            manifest is null ? "unverified" : $"verified, root {manifest.RootHashHex[..16]}");
        events.Publish(new StreamStarted(request.Sources, request.TargetPath, request.Export.ToString(), session.Resumed, manifest is not null,
            StreamingProgress.Of(disk, clock.Elapsed)));
        _exported.TrySetResult();

        try
        {
            // Neither the guest's reads nor the copy wait for the published profile (an AoE source without one takes its
            // discovery timeout, about 1.4 s, to say so): the copy starts in disk order and takes the profile's when it comes.
            var copy = session.RunToCompletionAsync(ct);
            var profiled = request.BootProfilePath is null ? PrefetchPublishedAsync(session, published, log) : Task.CompletedTask;
            while (!copy.IsCompleted)
            {
                await Task.WhenAny(copy, Task.Delay(ProgressInterval, ct));
                ct.ThrowIfCancellationRequested();
                events.Publish(new StreamProgressed(StreamingProgress.Of(disk, clock.Elapsed)));
            }
            await copy;
            // Complete means nothing is left to do: an image copied faster than the lookup (1.4 s) waits for its end.
            await profiled;
            events.Publish(new StreamCompleted(StreamingProgress.Of(disk, clock.Elapsed)));
            _complete.TrySetResult();
            log.LogInformation("deployment complete: every block present and committed; still exporting until stopped");
            await Task.Delay(Timeout.Infinite, ct);
        }
        finally
        {
            _exported.TrySetCanceled(ct);
            _complete.TrySetCanceled(ct);
            await server.StopAsync();
            events.Publish(new StreamStopped(StreamingProgress.Of(disk, clock.Elapsed)));
        }
    }

    /// <summary>A source's identity check, its change reported as an event.</summary>
    private SourceIdentityCheck Watched(SourceIdentityCheck identity)
    {
        identity.Changed += change => events.Publish(new SourceChanged(_clock.Elapsed, change.Source, change.ExpectedRoot, change.ServedRoot, change.Message));
        return identity;
    }

    /// <summary>
    /// Offer the boot profile <paramref name="chunks"/> (at ready: the deployment reached it) to the image server, when it
    /// is a bmcast server that published none (docs/hosted.md, "Learned boot profiles"); a failure is logged, never thrown.
    /// </summary>
    public async Task OfferBootProfileAsync(IReadOnlyList<long> chunks, CancellationToken ct)
    {
        if (_learningServer is not { } server || _disk is null || !_publishedProfile.IsCompletedSuccessfully || _publishedProfile.Result is not null)
            return;
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(ct);
        patience.CancelAfter(OfferPatience);
        await BootProfileOffer.OfferAsync(server, request.SourceTls, chunks, logging.CreateLogger("bmcast.stream"), patience.Token);
    }

    /// <summary>
    /// The image server's profile is an optimisation: one that cannot be fetched or parsed once a guest may be running on
    /// the export is logged, and the copy goes on in disk order, rather than ending the deployment under the guest.
    /// </summary>
    private static async Task PrefetchPublishedAsync(StreamingSession session, Task<byte[]?> published, ILogger log)
    {
        try
        {
            if (await published is { } bytes)
                Prefetch(session, System.Text.Encoding.UTF8.GetString(bytes), log);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("the image server's boot profile is not used: {Error}", e.Message);
        }
    }

    private static void Prefetch(StreamingSession session, string profileText, ILogger log)
    {
        session.PreferredOrder = BootProfile.Parse(profileText, session.Disk.Geometry.ChunkCount);
        log.LogInformation("prefetching {Count} chunks of the boot profile first", session.PreferredOrder.Count);
    }
}
