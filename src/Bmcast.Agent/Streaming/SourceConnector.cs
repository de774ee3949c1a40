using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Engine.Sources;
using Bmcast.Engine.Verification;
using Bmcast.Protocols.Aoe;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Streaming;

/// <summary>
/// Turns a <c>--source</c> URI into an image source and the manifest that verifies it. Sources from
/// <c>bmcast serve</c> publish their signed manifest as the hidden export <c>manifest:NAME</c>;
/// foreign servers (nbdkit, qemu-nbd, nbd-server) have none and stream unverified unless the
/// operator gives <c>--manifest</c>. AoE sources (<c>aoe:IFACE/eSHELF.SLOT</c>) read it from the companion slot
/// (<see cref="AoeManifestReader"/>: by default the next shelf, same slot) and the boot profile from the one after;
/// <c>vblade</c> has neither. Either way a
/// server without a manifest is streamed unverified, unless a key is required (<c>--trust-key</c>) or pinned for
/// it. <c>nbds</c> sources use <paramref name="tls"/> for the image and its companions alike.
/// An NBD source is checked against the manifest it published at the start on every reconnect (the
/// <see cref="SourceIdentityCheck"/> given for it). Its reads ride out outages up to <paramref name="outageLimit"/>
/// (zero for a source among several: the other sources serve meanwhile, <see cref="SourceSet"/>).
/// </summary>
public sealed class SourceConnector(ManifestTrust trust, TimeSpan outageLimit, NbdClientTls? tls, ILogger logger)
{
    private const long MaxCompanionBytes = 1L << 30;

    /// <summary>
    /// A boot profile is read from a bmcast target, which answers at once when it has one; most images have none, and
    /// the deployment cannot report complete before the answer, so three sends (200, 400, 800 ms: 1.4 s) rather than the
    /// manifest's five.
    /// </summary>
    private static readonly AoeInitiatorOptions ProfileDiscovery = AoeCompanionReader.Discovery with { MaxTransmissions = 3 };

    private static readonly AoeCompanionReader ProfileReader = new("boot profile", BootProfile.Magic.ToArray());

    /// <summary>
    /// The source, its manifest (null: unverified) and how to fetch its boot profile (null when none is published): the
    /// disk is exported and the copy started before it is known.
    /// </summary>
    public async Task<OpenedSource> OpenAsync(string uri, string? manifestPath, string? trustedKey, SourceIdentityCheck identity, CancellationToken ct)
    {
        var (source, authority, fetchManifest, fetchProfile) = await ConnectAsync(uri, identity, ct);
        try
        {
            Manifest? manifest = await LoadManifestAsync(manifestPath, authority, trustedKey, fetchManifest, ct);
            if (manifest is not null && manifest.ImageSize != source.Size)
                throw new ManifestTrustException($"manifest describes {manifest.ImageSize} bytes but {source.Description} has {source.Size}");
            if (manifest is null)
                logger.LogWarning("{Source} has no manifest: streaming UNVERIFIED (give --manifest to verify)", source.Description);
            else if (manifestPath is null)
                identity.Expect(manifest);
            return new OpenedSource(source, manifest, fetchProfile);
        }
        catch
        {
            await source.DisposeAsync();
            throw;
        }
    }

    private async Task<Manifest?> LoadManifestAsync(string? manifestPath, string authority, string? trustedKey,
        Func<CancellationToken, Task<byte[]?>> fetchManifest, CancellationToken ct)
    {
        if (manifestPath is not null)
        {
            var given = Manifest.Decode(await File.ReadAllBytesAsync(manifestPath, ct));
            if (!given.HasValidSignature())
                throw new ManifestTrustException($"manifest {manifestPath} has an invalid signature");
            if (trustedKey is not null)
                trust.Check(given, authority, trustedKey);
            return given;
        }
        byte[]? encoded = await fetchManifest(ct);
        if (encoded is null)
        {
            if (trustedKey is not null)
                throw new ManifestTrustException($"image server {authority} published no manifest but --trust-key requires one: refusing to stream unverified");
            if (trust.IsPinned(authority))
                throw new ManifestTrustException($"image server {authority} has a pinned key but published no manifest: refusing to stream unverified");
            return null;
        }
        var manifest = Manifest.Decode(encoded);
        trust.Check(manifest, authority, trustedKey);
        return manifest;
    }

    /// <summary>A connected source, the server's authority (for key pinning), and how to fetch its manifest and boot profile (null: none).</summary>
    private sealed record Connection(IImageSource Source, string Authority,
        Func<CancellationToken, Task<byte[]?>> FetchManifest, Func<CancellationToken, Task<byte[]?>> FetchProfile);

    private async Task<Connection> ConnectAsync(string uri, SourceIdentityCheck identity, CancellationToken ct)
    {
        if (uri.StartsWith("file://", StringComparison.Ordinal))
        {
            var file = new FileImageSource(new Uri(uri).LocalPath);
            return new Connection(file, "localhost", None, None);
        }
        if (uri.StartsWith("nbd", StringComparison.Ordinal))
        {
            var nbd = NbdUri.Parse(uri);
            Func<CancellationToken, Task<byte[]?>> fetchManifest = token => FetchCompanionAsync(nbd, ExportNames.ManifestOf, token);
            var source = await ReconnectingImageSource.ConnectAsync(token => ConnectCheckedAsync(nbd, fetchManifest, identity, token), outageLimit, logger, ct);
            return new Connection(source, nbd.Endpoint.ToString(), fetchManifest, token => FetchCompanionAsync(nbd, ExportNames.ProfileOf, token));
        }
        if (uri.StartsWith(AoeAddress.Scheme, StringComparison.Ordinal))
        {
            var aoe = AoeAddress.Parse(uri);
            var source = await AoeImageSource.OpenAsync(aoe, cancellationToken: ct, logger: logger);
            bool bmcastTarget = source.Initiator.Model.StartsWith(AoeTargetHandler.ModelPrefix, StringComparison.Ordinal);
            // Looked for while the manifest is and while the disk is opened and exported, which need no profile.
            var profile = FetchAoeProfileAsync(aoe, ct);
            return new Connection(source, source.Initiator.Target.ToString(), token => FetchAoeManifestAsync(aoe, bmcastTarget, token), _ => profile);
        }
        throw new ArgumentException($"unsupported source '{uri}': expected nbd[s]://HOST[:PORT]/NAME, nbd[s]+unix:///NAME?socket=PATH, aoe:IFACE/eSHELF.SLOT[?manifest-shelf=M&profile-shelf=P] or file:///PATH");
    }

    /// <summary>A (re)connection to an NBD source, refused when the source now publishes another manifest.</summary>
    private async Task<IImageSource> ConnectCheckedAsync(NbdUri nbd, Func<CancellationToken, Task<byte[]?>> fetchManifest, SourceIdentityCheck identity, CancellationToken ct)
    {
        identity.ThrowIfChanged();
        var source = await NbdImageSource.OpenAsync(nbd, tls, ct);
        try
        {
            await identity.VerifyAsync(fetchManifest, ct);
            return source;
        }
        catch
        {
            await source.DisposeAsync();
            throw;
        }
    }

    private static Task<byte[]?> None(CancellationToken ct) => Task.FromResult<byte[]?>(null);

    /// <summary>
    /// The manifest from the image's companion slot. A <c>bmcast serve</c> target (its IDENTIFY model says so) always
    /// exports one, so there a missing companion is a mismatched manifest shelf or a server too busy to answer, and
    /// is refused rather than quietly streamed unverified; it is also given the initiator's full patience.
    /// </summary>
    private async Task<byte[]?> FetchAoeManifestAsync(AoeAddress image, bool bmcastTarget, CancellationToken ct)
    {
        byte[]? manifest = null;
        if (image.Manifest is { } companion)
            manifest = await AoeManifestReader.ReadAsync(companion, logger, ct, bmcastTarget ? new AoeInitiatorOptions() : null);
        else
            logger.LogWarning("{Source}: no shelf above {Shelf} for a manifest (give ?manifest-shelf=M)", image, image.Shelf);
        if (manifest is null && bmcastTarget)
            throw new ManifestTrustException(
                $"{image} is a bmcast target but no manifest came from its companion slot ({(image.Manifest?.ToString() ?? "no shelf")}): " +
                "refusing to stream unverified (match ?manifest-shelf= to serve's --aoe-manifest-shelf, or give --manifest)");
        return manifest;
    }

    /// <summary>
    /// The boot profile from the image's profile companion; null when there is none, whatever the reason (a profile is
    /// an optimisation: without one the copier goes in image order), with a log line saying why. Its content is
    /// checked by <see cref="BootProfile.Parse"/> like an NBD server's.
    /// </summary>
    private async Task<byte[]?> FetchAoeProfileAsync(AoeAddress image, CancellationToken ct)
    {
        if (image.Profile is not { } companion)
        {
            logger.LogInformation("{Source}: no shelf two above {Shelf} for a boot profile (give ?profile-shelf=P)", image, image.Shelf);
            return null;
        }
        try
        {
            return await ProfileReader.ReadAsync(companion, logger, LogLevel.Information, ct, ProfileDiscovery);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            logger.LogWarning("no boot profile from {Companion}: {Message}", companion, e.Message);
            return null;
        }
    }

    /// <summary>
    /// A hidden export beside the image (its manifest, its boot profile); null when the server has
    /// none. Foreign servers such as nbdkit answer every export name with the image itself, so a
    /// companion counts only if it starts with its own magic, checked before anything large is read.
    /// </summary>
    private async Task<byte[]?> FetchCompanionAsync(NbdUri image, Func<string, string> nameOf, CancellationToken ct)
    {
        string name = nameOf(image.ExportName);
        byte[] magic = name.StartsWith(ExportNames.ManifestPrefix, StringComparison.Ordinal) ? Manifest.Magic.ToArray() : BootProfile.Magic.ToArray();
        try
        {
            await using var client = await NbdClient.ConnectAsync(image.ForExport(name), tls, ct);
            if (client.Size < magic.Length || client.Size > MaxCompanionBytes)
                return null;
            var head = new byte[magic.Length];
            await client.ReadAsync(0, head, ct);
            if (!head.AsSpan().SequenceEqual(magic))
                return null;
            var bytes = new byte[client.Size];
            await client.ReadAsync(0, bytes, ct);
            return bytes;
        }
        catch (NbdOptionRefusedException)
        {
            return null;
        }
    }
}
