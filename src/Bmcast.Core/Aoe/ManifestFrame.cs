using System.Buffers.Binary;

namespace Bmcast.Core.Aoe;

/// <summary>
/// An image's signed manifest as an AoE device: the companion slot that <c>bmcast serve --aoe</c> exports
/// beside each image. A device has whole sectors only, so the manifest is framed with its exact length:
/// <code>
///   0  u64 manifest length (little-endian, like the manifest's own fields)
///   8  the encoded manifest ("BMCMAN01"...)
///  ..  zeros to the end of the last sector
/// </code>
/// A reader learns everything it must check from the first sector. Spans and <c>BinaryPrimitives</c> only, except
/// <see cref="Frame"/>, which servers call once per image to allocate the device.
/// </summary>
public static class ManifestFrame
{
    public const int HeaderLength = 8;

    /// <summary>
    /// The first bytes of every encoded manifest (<c>Manifest.Magic</c>), repeated here so that the codec compiles
    /// without the manifest's cryptography, as the hypervisor will need.
    /// </summary>
    public static ReadOnlySpan<byte> ManifestMagic => "BMCMAN01"u8;

    /// <summary>The largest manifest a reader accepts: a 1 TiB image at 64 KiB chunks needs 512 MiB.</summary>
    public const long MaxManifestLength = 1L << 30;

    /// <summary>Bytes of the framed device: header and manifest, rounded up to whole sectors.</summary>
    public static long FramedLength(long manifestLength) =>
        (HeaderLength + manifestLength + AoeProtocol.SectorSize - 1) / AoeProtocol.SectorSize * AoeProtocol.SectorSize;

    /// <summary>The framed device for <paramref name="manifest"/>, as a new array (servers frame once, at start).</summary>
    public static byte[] Frame(ReadOnlySpan<byte> manifest)
    {
        var device = new byte[FramedLength(manifest.Length)];
        Write(manifest, device);
        return device;
    }

    /// <summary>Frame <paramref name="manifest"/> into <paramref name="device"/>, which holds <see cref="FramedLength"/> bytes.</summary>
    public static void Write(ReadOnlySpan<byte> manifest, Span<byte> device)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(device, (ulong)manifest.Length);
        manifest.CopyTo(device[HeaderLength..]);
        device[(HeaderLength + manifest.Length)..].Clear();
    }

    /// <summary>
    /// Check the start of a framed device (its first sector, or all of it if shorter) against the device's size;
    /// <paramref name="manifestLength"/> is the declared length whenever the header could be read.
    /// </summary>
    public static ManifestFrameStatus TryReadHeader(ReadOnlySpan<byte> start, long deviceSize, out long manifestLength)
    {
        manifestLength = 0;
        if (start.Length < HeaderLength + ManifestMagic.Length || deviceSize < start.Length)
            return ManifestFrameStatus.Truncated;
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(start);
        manifestLength = (long)Math.Min(declared, long.MaxValue);
        if (!start.Slice(HeaderLength, ManifestMagic.Length).SequenceEqual(ManifestMagic))
            return ManifestFrameStatus.NotAManifest;
        if (declared < (ulong)ManifestMagic.Length || declared > MaxManifestLength)
            return ManifestFrameStatus.BadLength;
        return declared > (ulong)(deviceSize - HeaderLength) ? ManifestFrameStatus.PastDeviceEnd : ManifestFrameStatus.Valid;
    }
}
