using Bmcast.Core.Aoe;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Fetches an image's signed manifest from its AoE companion slot (a <see cref="ManifestFrame"/>), with the rules
/// of NBD's <c>manifest:NAME</c> export: no target at that address, or a device there that does not hold a
/// manifest (some other disk), means "no manifest", and the caller decides whether streaming unverified is
/// allowed; a frame that claims a manifest but contradicts itself or its device is an error. The bytes returned
/// are untrusted: the caller decodes them and checks the signature.
/// </summary>
public static class AoeManifestReader
{
    /// <summary>
    /// Five sends (200 ms doubling to 1 s, about 3.4 s in all): the image's target has just answered, so a companion
    /// on it answers as fast, and a target without one (vblade) should not hold up the start for long.
    /// </summary>
    public static AoeInitiatorOptions Discovery { get; } = new() { MaxTransmissions = 5 };

    /// <summary>
    /// The manifest at <paramref name="companion"/>; null (with a log line saying why) when there is none. Looked for with
    /// <paramref name="options"/> (default: <see cref="Discovery"/>).
    /// </summary>
    public static async Task<byte[]?> ReadAsync(AoeAddress companion, ILogger logger, CancellationToken cancellationToken, AoeInitiatorOptions? options = null)
    {
        AoeImageSource device;
        try
        {
            device = await AoeImageSource.OpenAsync(companion, options ?? Discovery, cancellationToken);
        }
        catch (AoeNoReplyException e) when (!e.TargetFound)
        {
            logger.LogWarning("no AoE target answered at {Companion}, where the image's manifest would be", companion);
            return null;
        }
        await using (device)
            return await ReadAsync(device, logger, cancellationToken);
    }

    /// <summary>The manifest framed on <paramref name="device"/>; null when the device does not start with one.</summary>
    public static async Task<byte[]?> ReadAsync(IImageSource device, ILogger logger, CancellationToken cancellationToken)
    {
        var start = new byte[Math.Min(device.Size, AoeProtocol.SectorSize)];
        await device.ReadAsync(0, start, cancellationToken);
        switch (ManifestFrame.TryReadHeader(start, device.Size, out long length))
        {
            case ManifestFrameStatus.Valid:
                break;
            case ManifestFrameStatus.Truncated or ManifestFrameStatus.NotAManifest:
                logger.LogWarning("{Device} holds no bmcast manifest ({Size} bytes, no manifest magic at byte {Offset})",
                    device.Description, device.Size, ManifestFrame.HeaderLength);
                return null;
            case var status:
                throw new ManifestFormatException(
                    $"{device.Description} holds a manifest frame that declares {length} bytes on a device of {device.Size} ({status})");
        }
        // Whole sectors, so an AoE source reads straight into the buffer; the frame fits the device (checked above).
        var framed = new byte[Math.Min(device.Size, ManifestFrame.FramedLength(length))];
        await device.ReadAsync(0, framed, cancellationToken);
        return framed.AsSpan(ManifestFrame.HeaderLength, (int)length).ToArray();
    }
}
