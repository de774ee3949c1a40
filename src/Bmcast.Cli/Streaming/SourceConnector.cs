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
    private const long MaxManifestBytes = 1L << 30;

    public async Task<(IImageSource Source, Manifest? Manifest)> OpenAsync(string uri, string? manifestPath, string? trustedKey, CancellationToken ct)
    {
        var (source, authority, fetchManifest) = await ConnectAsync(uri, ct);
        try
        {
            Manifest? manifest = await LoadManifestAsync(manifestPath, authority, trustedKey, fetchManifest, ct);
            if (manifest is not null && manifest.ImageSize != source.Size)
                throw new ManifestTrustException($"manifest describes {manifest.ImageSize} bytes but {source.Description} has {source.Size}");
            if (manifest is null)
                logger.LogWarning("{Source} has no manifest: streaming UNVERIFIED (give --manifest to verify)", source.Description);
            return (source, manifest);
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

    private async Task<(IImageSource, string, Func<CancellationToken, Task<byte[]?>>)> ConnectAsync(string uri, CancellationToken ct)
    {
        if (uri.StartsWith("file://", StringComparison.Ordinal))
        {
            var file = new FileImageSource(new Uri(uri).LocalPath);
            return (file, "localhost", _ => Task.FromResult<byte[]?>(null));
        }
        if (uri.StartsWith("nbd", StringComparison.Ordinal))
        {
            var nbd = NbdUri.Parse(uri);
            var source = await ReconnectingImageSource.ConnectAsync(async token => await NbdImageSource.OpenAsync(nbd, token), outageLimit, logger, ct);
            return (source, nbd.Endpoint.ToString(), token => FetchNbdManifestAsync(nbd, token));
        }
        throw new ArgumentException($"unsupported source '{uri}': expected nbd://HOST[:PORT]/NAME, nbd+unix:///NAME?socket=PATH or file:///PATH");
    }

    private static async Task<byte[]?> FetchNbdManifestAsync(NbdUri image, CancellationToken ct)
    {
        try
        {
            return await NbdClient.ReadExportAsync(NbdUri.Create(image.Endpoint, ExportNames.ManifestOf(image.ExportName)), MaxManifestBytes, ct);
        }
        catch (NbdOptionRefusedException)
        {
            return null;
        }
    }
}
