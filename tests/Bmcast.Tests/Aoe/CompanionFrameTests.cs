using System.Buffers.Binary;
using Bmcast.Core.Aoe;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Protocols.Aoe;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>The companions' framing (<see cref="CompanionFrame"/>) and their readers on devices in memory.</summary>
public sealed class CompanionFrameTests
{
    /// <summary>Not a real manifest: the framing looks only at the magic; decoding is the caller's business.</summary>
    private static readonly byte[] Manifest = [.. Core.Manifests.Manifest.Magic, .. ReadOnlyTestDevice.RandomData(1000, seed: 3)];

    private static ReadOnlySpan<byte> Magic => Core.Manifests.Manifest.Magic;

    private static byte[] Framed(byte[] manifest) => CompanionFrame.Frame(manifest);

    [Fact]
    public void FramingIsTheLengthThenTheManifestZeroPaddedToWholeSectors()
    {
        byte[] device = Framed(Manifest);
        var reused = new byte[device.Length];
        reused.AsSpan().Fill(0xEE); // Write must clear the padding itself
        CompanionFrame.Write(Manifest, reused);
        Assert.Equal(device, reused);

        Assert.Equal(1024, device.Length);
        Assert.Equal((ulong)Manifest.Length, BinaryPrimitives.ReadUInt64LittleEndian(device));
        Assert.True(device.AsSpan(8, Manifest.Length).SequenceEqual(Manifest));
        Assert.True(device.AsSpan(8 + Manifest.Length).IndexOfAnyExcept((byte)0) < 0, "the padding is not zero");
        Assert.Equal(CompanionFrameStatus.Valid, CompanionFrame.TryReadHeader(device.AsSpan(0, 512), device.Length, Magic, out long length));
        Assert.Equal(Manifest.Length, length);
        Assert.Equal(512, CompanionFrame.FramedLength(504));
        Assert.Equal(1024, CompanionFrame.FramedLength(505));
    }

    [Fact]
    public void HeaderChecksCatchTruncationWrongMagicBadLengthAndALengthPastTheEnd()
    {
        byte[] device = Framed(Manifest);
        Assert.Equal(CompanionFrameStatus.Truncated, CompanionFrame.TryReadHeader(device.AsSpan(0, 15), 15, Magic, out _));
        Assert.Equal(CompanionFrameStatus.Truncated, CompanionFrame.TryReadHeader(device.AsSpan(0, 512), 100, Magic, out _));

        byte[] wrongMagic = (byte[])device.Clone();
        wrongMagic[9] ^= 1;
        Assert.Equal(CompanionFrameStatus.NoMagic, CompanionFrame.TryReadHeader(wrongMagic, wrongMagic.Length, Magic, out _));

        foreach (ulong declared in new ulong[] { 0, 7, CompanionFrame.MaxPayloadLength + 1, ulong.MaxValue })
            Assert.Equal(CompanionFrameStatus.BadLength, CompanionFrame.TryReadHeader(WithLength(device, declared), device.Length, Magic, out _));

        Assert.Equal(CompanionFrameStatus.Valid, CompanionFrame.TryReadHeader(WithLength(device, 1024 - 8), device.Length, Magic, out _));
        Assert.Equal(CompanionFrameStatus.PastDeviceEnd, CompanionFrame.TryReadHeader(WithLength(device, 1024 - 7), device.Length, Magic, out long length));
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

    [Fact]
    public async Task TheMagicIsThePayloadsOwn()
    {
        byte[] profile = [.. BootProfile.Magic, .. "\n3\n1\n"u8];
        var profileReader = new AoeCompanionReader("boot profile", BootProfile.Magic.ToArray());
        byte[] framed = Framed(profile);

        Assert.Equal(profile, await ReadAsync(profileReader, framed));
        Assert.Null(await ReadAsync(profileReader, Framed(Manifest))); // a manifest is no profile
        Assert.Null(await ReadAsync(framed)); // nor a profile a manifest
        Assert.Equal(CompanionFrameStatus.BadLength,
            CompanionFrame.TryReadHeader(WithLength(framed, (ulong)BootProfile.Magic.Length - 1), framed.Length, BootProfile.Magic, out _));
        await Assert.ThrowsAsync<InvalidDataException>(() => ReadAsync(profileReader, WithLength(framed, 5000)));
    }

    private static byte[] WithLength(byte[] device, ulong declared)
    {
        byte[] copy = (byte[])device.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, declared);
        return copy;
    }

    private static async Task<byte[]?> ReadAsync(AoeCompanionReader reader, byte[] device)
    {
        await using var source = new MemoryImageSource(device, "test device");
        return await reader.ReadAsync(source, NullLogger.Instance, LogLevel.Information, TestContext.Current.CancellationToken);
    }

    private static async Task<byte[]?> ReadAsync(byte[] device)
    {
        await using var source = new MemoryImageSource(device, "test device");
        return await AoeManifestReader.ReadAsync(source, NullLogger.Instance, TestContext.Current.CancellationToken);
    }
}
