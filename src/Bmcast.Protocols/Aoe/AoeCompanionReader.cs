using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Reads a file that belongs to an image (its manifest, its boot profile) from an AoE companion slot, framed as a
/// <see cref="CompanionFrame"/>. No target at that address, or a device there without the payload's magic (some other
/// disk), means "none" with a log line saying why; a frame that claims the payload but contradicts itself or its
/// device is an <see cref="InvalidDataException"/>. The bytes returned are untrusted: the caller checks them.
/// </summary>
/// <param name="what">What the payload is, for log lines: <c>manifest</c>, <c>boot profile</c>.</param>
/// <param name="magic">The payload's first bytes.</param>
public sealed class AoeCompanionReader(string what, ReadOnlyMemory<byte> magic)
{
    /// <summary>
    /// Five sends (200 ms doubling to 1 s, about 3.4 s in all): the image's target has just answered, so a companion
    /// on it answers as fast, and a target without one (vblade) should not hold up the start for long.
    /// </summary>
    public static AoeInitiatorOptions Discovery { get; } = new() { MaxTransmissions = 5 };

    /// <summary>
    /// The payload at <paramref name="companion"/>; null (with a log line at <paramref name="absentLevel"/> saying why) when
    /// there is none. Looked for with <paramref name="options"/> (default: <see cref="Discovery"/>).
    /// </summary>
    public async Task<byte[]?> ReadAsync(AoeAddress companion, ILogger logger, LogLevel absentLevel, CancellationToken cancellationToken,
        AoeInitiatorOptions? options = null)
    {
        AoeImageSource device;
        try
        {
            device = await AoeImageSource.OpenAsync(companion, options ?? Discovery, cancellationToken);
        }
        catch (AoeNoReplyException e) when (!e.TargetFound)
        {
            logger.Log(absentLevel, "no AoE target answered at {Companion}, where the image's {What} would be", companion, what);
            return null;
        }
        await using (device)
            return await ReadAsync(device, logger, absentLevel, cancellationToken);
    }

    /// <summary>The payload framed on <paramref name="device"/>; null when the device does not start with one.</summary>
    public async Task<byte[]?> ReadAsync(IImageSource device, ILogger logger, LogLevel absentLevel, CancellationToken cancellationToken)
    {
        var start = new byte[Math.Min(device.Size, AoeProtocol.SectorSize)];
        await device.ReadAsync(0, start, cancellationToken);
        switch (CompanionFrame.TryReadHeader(start, device.Size, magic.Span, out long length))
        {
            case CompanionFrameStatus.Valid:
                break;
            case CompanionFrameStatus.Truncated or CompanionFrameStatus.NoMagic:
                logger.Log(absentLevel, "{Device} holds no bmcast {What} ({Size} bytes, no {What} magic at byte {Offset})",
                    device.Description, what, device.Size, what, CompanionFrame.HeaderLength);
                return null;
            case var status:
                throw new InvalidDataException(
                    $"{device.Description} holds a {what} frame that declares {length} bytes on a device of {device.Size} ({status})");
        }
        // Whole sectors, so an AoE source reads straight into the buffer; the frame fits the device (checked above).
        var framed = new byte[Math.Min(device.Size, CompanionFrame.FramedLength(length))];
        await device.ReadAsync(0, framed, cancellationToken);
        return framed.AsSpan(CompanionFrame.HeaderLength, (int)length).ToArray();
    }
}
