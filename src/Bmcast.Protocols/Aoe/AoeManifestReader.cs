using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Fetches an image's signed manifest from its AoE companion slot, with the rules of NBD's <c>manifest:NAME</c>
/// export: no target at that address, or a device there that does not hold a manifest (some other disk), means "no
/// manifest" (a warning), and the caller decides whether streaming unverified is allowed; a frame that claims a
/// manifest but contradicts itself or its device is a <see cref="ManifestFormatException"/>. The bytes returned are
/// untrusted: the caller decodes them and checks the signature.
/// </summary>
public static class AoeManifestReader
{
    private static readonly AoeCompanionReader Reader = new("manifest", Manifest.Magic.ToArray());

    /// <summary>The manifest at <paramref name="companion"/>; null (with a log line saying why) when there is none.</summary>
    public static Task<byte[]?> ReadAsync(AoeAddress companion, ILogger logger, CancellationToken cancellationToken, AoeInitiatorOptions? options = null) =>
        AsManifestErrors(Reader.ReadAsync(companion, logger, LogLevel.Warning, cancellationToken, options));

    /// <summary>The manifest framed on <paramref name="device"/>; null when the device does not start with one.</summary>
    public static Task<byte[]?> ReadAsync(IImageSource device, ILogger logger, CancellationToken cancellationToken) =>
        AsManifestErrors(Reader.ReadAsync(device, logger, LogLevel.Warning, cancellationToken));

    /// <summary>A bad manifest frame fails like a manifest that does not decode.</summary>
    private static async Task<byte[]?> AsManifestErrors(Task<byte[]?> read)
    {
        try
        {
            return await read;
        }
        catch (InvalidDataException e)
        {
            throw new ManifestFormatException(e.Message);
        }
    }
}
