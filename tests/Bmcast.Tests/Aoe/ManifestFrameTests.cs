using System.Buffers.Binary;
using Bmcast.Core.Aoe;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>The manifest companion's framing (<see cref="ManifestFrame"/>) and its reader on devices in memory.</summary>
public sealed class ManifestFrameTests
{
    /// <summary>Not a real manifest: the framing looks only at the magic; decoding is the caller's business.</summary>
    private static readonly byte[] Manifest = [.. Core.Manifests.Manifest.Magic, .. ReadOnlyTestDevice.RandomData(1000, seed: 3)];

    private static byte[] Framed(byte[] manifest) => ManifestFrame.Frame(manifest);

    [Fact]
    public void FramingIsTheLengthThenTheManifestZeroPaddedToWholeSectors()
    {
        byte[] device = Framed(Manifest);
        var reused = new byte[device.Length];
        reused.AsSpan().Fill(0xEE); // Write must clear the padding itself
        ManifestFrame.Write(Manifest, reused);
        Assert.Equal(device, reused);

        Assert.Equal(1024, device.Length);
        Assert.Equal((ulong)Manifest.Length, BinaryPrimitives.ReadUInt64LittleEndian(device));
        Assert.True(device.AsSpan(8, Manifest.Length).SequenceEqual(Manifest));
        Assert.True(device.AsSpan(8 + Manifest.Length).IndexOfAnyExcept((byte)0) < 0, "the padding is not zero");
        Assert.Equal(ManifestFrameStatus.Valid, ManifestFrame.TryReadHeader(device.AsSpan(0, 512), device.Length, out long length));
        Assert.Equal(Manifest.Length, length);
        Assert.True(ManifestFrame.ManifestMagic.SequenceEqual(Core.Manifests.Manifest.Magic));
        Assert.Equal(512, ManifestFrame.FramedLength(504));
        Assert.Equal(1024, ManifestFrame.FramedLength(505));
    }

    [Fact]
    public void HeaderChecksCatchTruncationWrongMagicBadLengthAndALengthPastTheEnd()
    {
        byte[] device = Framed(Manifest);
        Assert.Equal(ManifestFrameStatus.Truncated, ManifestFrame.TryReadHeader(device.AsSpan(0, 15), 15, out _));
        Assert.Equal(ManifestFrameStatus.Truncated, ManifestFrame.TryReadHeader(device.AsSpan(0, 512), 100, out _));

        byte[] wrongMagic = (byte[])device.Clone();
        wrongMagic[9] ^= 1;
        Assert.Equal(ManifestFrameStatus.NotAManifest, ManifestFrame.TryReadHeader(wrongMagic, wrongMagic.Length, out _));

        foreach (ulong declared in new ulong[] { 0, 7, ManifestFrame.MaxManifestLength + 1, ulong.MaxValue })
            Assert.Equal(ManifestFrameStatus.BadLength, ManifestFrame.TryReadHeader(WithLength(device, declared), device.Length, out _));

        Assert.Equal(ManifestFrameStatus.Valid, ManifestFrame.TryReadHeader(WithLength(device, 1024 - 8), device.Length, out _));
        Assert.Equal(ManifestFrameStatus.PastDeviceEnd, ManifestFrame.TryReadHeader(WithLength(device, 1024 - 7), device.Length, out long length));
        Assert.Equal(1017, length);
    }

    [Fact]
    public async Task ReaderReturnsExactlyTheManifest()
    {
        byte[]? read = await ReadAsync(Framed(Manifest));

        Assert.Equal(Manifest, read);
    }

    [Fact]
    public async Task ADeviceWithoutAManifestReadsAsNone()
    {
        Assert.Null(await ReadAsync(ReadOnlyTestDevice.RandomData(4096, seed: 4)));
        Assert.Null(await ReadAsync(new byte[12]));
    }

    [Fact]
    public async Task AFrameThatContradictsItsDeviceIsAnError()
    {
        byte[] device = Framed(Manifest);
        var pastEnd = await Assert.ThrowsAsync<ManifestFormatException>(() => ReadAsync(WithLength(device, 5000)));
        Assert.Contains("PastDeviceEnd", pastEnd.Message);
        await Assert.ThrowsAsync<ManifestFormatException>(() => ReadAsync(WithLength(device, 3)));
        // Cut short: the device ends inside the manifest the header declares.
        await Assert.ThrowsAsync<ManifestFormatException>(() => ReadAsync(device[..512]));
    }

    private static byte[] WithLength(byte[] device, ulong declared)
    {
        byte[] copy = (byte[])device.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, declared);
        return copy;
    }

    private static async Task<byte[]?> ReadAsync(byte[] device)
    {
        await using var source = new MemoryImageSource(device, "test device");
        return await AoeManifestReader.ReadAsync(source, NullLogger.Instance, TestContext.Current.CancellationToken);
    }
}
