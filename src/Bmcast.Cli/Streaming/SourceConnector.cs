using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine.Sources;
using Bmcast.Engine.Verification;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Microsoft.Extensions.Logging;

namespace Bmcast.Cli.Streaming;

/// <summary>
/// Turns a <c>--source</c> URI into an image source and the manifest that verifies it. Sources from
/// <c>bmcast serve</c> publish their signed manifest as the hidden export <c>manifest:NAME</c>;
/// foreign servers (nbdkit, qemu-nbd, nbd-server) have none and stream unverified unless the
/// operator gives <c>--manifest</c>.
/// </summary>
internal sealed class SourceConnector(ManifestTrust trust, TimeSpan outageLimit, ILogger logger)
{
    private const long MaxCompanionBytes = 1L << 30;

    /// <summary>The source, its manifest (null: unverified) and its boot profile (empty when none is published).</summary>
    public async Task<(IImageSource Source, Manifest? Manifest, byte[]? BootProfile)> OpenAsync(string uri, string? manifestPath, string? trustedKey, CancellationToken ct)
    {
        var (source, authority, fetchCompanion) = await ConnectAsync(uri, ct);
        try
        {
            Manifest? manifest = await LoadManifestAsync(manifestPath, authority, trustedKey, token => fetchCompanion(ExportNames.ManifestOf, token), ct);
            if (manifest is not null && manifest.ImageSize != source.Size)
                throw new ManifestTrustException($"manifest describes {manifest.ImageSize} bytes but {source.Description} has {source.Size}");
            if (manifest is null)
                logger.LogWarning("{Source} has no manifest: streaming UNVERIFIED (give --manifest to verify)", source.Description);
            return (source, manifest, await fetchCompanion(ExportNames.ProfileOf, ct));
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
            return null;
        var manifest = Manifest.Decode(encoded);
        trust.Check(manifest, authority, trustedKey);
        return manifest;
    }

    /// <summary>Connect; also returns the server's authority (for key pinning) and how to read a companion export of the image.</summary>
    private async Task<(IImageSource, string, Func<Func<string, string>, CancellationToken, Task<byte[]?>>)> ConnectAsync(string uri, CancellationToken ct)
    {
        if (uri.StartsWith("file://", StringComparison.Ordinal))
        {
            var file = new FileImageSource(new Uri(uri).LocalPath);
            return (file, "localhost", (_, _) => Task.FromResult<byte[]?>(null));
        }
        if (uri.StartsWith("nbd", StringComparison.Ordinal))
        {
            var nbd = NbdUri.Parse(uri);
            var source = await ReconnectingImageSource.ConnectAsync(async token => await NbdImageSource.OpenAsync(nbd, token), outageLimit, logger, ct);
            return (source, nbd.Endpoint.ToString(), (nameOf, token) => FetchCompanionAsync(nbd, nameOf, token));
        }
        throw new ArgumentException($"unsupported source '{uri}': expected nbd://HOST[:PORT]/NAME, nbd+unix:///NAME?socket=PATH or file:///PATH");
    }

    /// <summary>A hidden export beside the image (its manifest, its boot profile); null when the server has none.</summary>
    private static async Task<byte[]?> FetchCompanionAsync(NbdUri image, Func<string, string> nameOf, CancellationToken ct)
    {
        try
        {
            return await NbdClient.ReadExportAsync(NbdUri.Create(image.Endpoint, nameOf(image.ExportName)), MaxCompanionBytes, ct);
        }
        catch (NbdOptionRefusedException)
        {
            return null;
        }
    }
}
