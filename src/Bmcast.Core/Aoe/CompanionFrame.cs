using System.Buffers.Binary;

namespace Bmcast.Core.Aoe;

/// <summary>
/// A file that belongs to an image (its signed manifest, its boot profile) as an AoE device: the companion slots that
/// <c>bmcast serve --aoe</c> exports beside each image. A device has whole sectors only, so the payload is framed with
/// its exact length:
/// <code>
///   0  u64 payload length (little-endian, like the manifest's own fields)
///   8  the payload, which starts with its own magic ("BMCMAN01" for a manifest, "# bmcast boot profile v1" for a profile)
///  ..  zeros to the end of the last sector
/// </code>
/// A reader learns everything it must check from the first sector. The magic is the caller's, so that the codec
/// compiles without the manifest's cryptography or the engine, as the hypervisor will need. Spans and
/// <c>BinaryPrimitives</c> only, except <see cref="Frame"/>, which servers call once per payload to allocate the device.
/// </summary>
public static class CompanionFrame
{
    public const int HeaderLength = 8;

    /// <summary>The largest payload a reader accepts: a 1 TiB image's manifest at 64 KiB chunks needs 512 MiB.</summary>
    public const long MaxPayloadLength = 1L << 30;

    /// <summary>Bytes of the framed device: header and payload, rounded up to whole sectors.</summary>
    public static long FramedLength(long payloadLength) =>
        (HeaderLength + payloadLength + AoeProtocol.SectorSize - 1) / AoeProtocol.SectorSize * AoeProtocol.SectorSize;

    /// <summary>The framed device for <paramref name="payload"/>, as a new array (servers frame once per payload).</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload)
    {
        var device = new byte[FramedLength(payload.Length)];
        Write(payload, device);
        return device;
    }

    /// <summary>Frame <paramref name="payload"/> into <paramref name="device"/>, which holds <see cref="FramedLength"/> bytes.</summary>
    public static void Write(ReadOnlySpan<byte> payload, Span<byte> device)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(device, (ulong)payload.Length);
        payload.CopyTo(device[HeaderLength..]);
        device[(HeaderLength + payload.Length)..].Clear();
    }

    /// <summary>
    /// Check the start of a framed device (its first sector, or all of it if shorter) against the device's size and the
    /// payload's <paramref name="magic"/>; <paramref name="payloadLength"/> is the declared length whenever the header
    /// could be read.
    /// </summary>
    public static CompanionFrameStatus TryReadHeader(ReadOnlySpan<byte> start, long deviceSize, ReadOnlySpan<byte> magic, out long payloadLength)
    {
        payloadLength = 0;
        if (start.Length < HeaderLength + magic.Length || deviceSize < start.Length)
            return CompanionFrameStatus.Truncated;
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(start);
        payloadLength = (long)Math.Min(declared, long.MaxValue);
        if (!start.Slice(HeaderLength, magic.Length).SequenceEqual(magic))
            return CompanionFrameStatus.NoMagic;
        if (declared < (ulong)magic.Length || declared > MaxPayloadLength)
            return CompanionFrameStatus.BadLength;
        return declared > (ulong)(deviceSize - HeaderLength) ? CompanionFrameStatus.PastDeviceEnd : CompanionFrameStatus.Valid;
    }
}
