using System.Buffers;
using System.Buffers.Binary;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Xunit;

namespace Bmcast.Tests.Nbd;

public sealed class NbdCodecTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void Request_round_trips_through_split_segments(int segmentSize)
    {
        var request = new NbdRequest(NbdCommandFlags.Fua, NbdCommand.Write, 0x0102030405060708, 1 << 20, 5);
        var bytes = new byte[NbdTransmissionCodec.RequestSize + 5 + 3];
        NbdTransmissionCodec.WriteRequest(bytes, request);
        "hello"u8.CopyTo(bytes.AsSpan(NbdTransmissionCodec.RequestSize));
        var buffer = Segments.Split(bytes, segmentSize);

        Assert.True(NbdTransmissionCodec.TryReadRequest(ref buffer, out var parsed, out var payload));

        Assert.Equal(request, parsed);
        Assert.Equal("hello"u8.ToArray(), payload.ToArray());
        Assert.Equal(3, buffer.Length);
    }

    [Fact]
    public void Incomplete_request_needs_more_and_consumes_nothing()
    {
        var bytes = new byte[NbdTransmissionCodec.RequestSize + 10];
        NbdTransmissionCodec.WriteRequest(bytes, new NbdRequest(0, NbdCommand.Write, 1, 0, 10));
        for (int length = 0; length < bytes.Length; length++)
        {
            var buffer = Segments.Split(bytes[..length], 7);
            Assert.False(NbdTransmissionCodec.TryReadRequest(ref buffer, out _, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    [Fact]
    public void Request_with_bad_magic_is_a_protocol_error()
    {
        var bytes = new byte[NbdTransmissionCodec.RequestSize];
        NbdTransmissionCodec.WriteRequest(bytes, new NbdRequest(0, NbdCommand.Read, 1, 0, 512));
        bytes[0] ^= 0xff;
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<NbdProtocolException>(() => NbdTransmissionCodec.TryReadRequest(ref buffer, out _, out _));
    }

    [Fact]
    public void Oversized_write_is_rejected_before_its_payload_arrives()
    {
        var bytes = new byte[NbdTransmissionCodec.RequestSize];
        NbdTransmissionCodec.WriteRequest(bytes, new NbdRequest(0, NbdCommand.Write, 1, 0, NbdProtocol.MaxPayload + 1));
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<NbdProtocolException>(() => NbdTransmissionCodec.TryReadRequest(ref buffer, out _, out _));
    }

    [Fact]
    public void Option_is_read_across_segments_and_oversized_options_are_refused()
    {
        var bytes = new byte[NbdHandshakeCodec.OptionHeaderSize + 4];
        NbdHandshakeCodec.WriteOptionHeader(bytes, NbdOption.Go, 4);
        var buffer = Segments.Split(bytes, 5);
        Assert.True(NbdHandshakeCodec.TryReadOption(ref buffer, out var option, out var payload));
        Assert.Equal(NbdOption.Go, option);
        Assert.Equal(4, payload.Length);
        Assert.True(buffer.IsEmpty);

        NbdHandshakeCodec.WriteOptionHeader(bytes, NbdOption.Go, NbdProtocol.MaxOptionLength + 1);
        var huge = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<NbdProtocolException>(() => NbdHandshakeCodec.TryReadOption(ref huge, out _, out _));
    }

    [Fact]
    public void Export_request_round_trips_and_rejects_inconsistent_lengths()
    {
        var bytes = new byte[NbdHandshakeCodec.ExportRequestLength("manifest:débian", 2)];
        int written = NbdHandshakeCodec.WriteExportRequest(bytes, "manifest:débian", [NbdInfo.Name, NbdInfo.BlockSize]);
        Assert.Equal(bytes.Length, written);

        Assert.True(NbdHandshakeCodec.TryParseExportRequest(bytes, out var name, out var infos));
        Assert.Equal("manifest:débian", name);
        Assert.Equal((ushort)NbdInfo.BlockSize, BinaryPrimitives.ReadUInt16BigEndian(infos[2..]));

        BinaryPrimitives.WriteUInt32BigEndian(bytes, 1000);
        Assert.False(NbdHandshakeCodec.TryParseExportRequest(bytes, out _, out _));
        Assert.False(NbdHandshakeCodec.TryParseExportRequest(bytes.AsSpan(0, 5), out _, out _));
    }

    [Fact]
    public void Meta_context_request_round_trips_and_bounds_queries()
    {
        string[] queries = ["base:allocation", "qemu:dirty-bitmap:x"];
        var bytes = new byte[NbdHandshakeCodec.MetaContextRequestLength("disk", queries)];
        NbdHandshakeCodec.WriteMetaContextRequest(bytes, "disk", queries);
        var parsed = new List<string>();

        Assert.True(NbdHandshakeCodec.TryParseMetaContextRequest(bytes, 16, out var name, parsed));
        Assert.Equal("disk", name);
        Assert.Equal(queries, parsed);
        Assert.False(NbdHandshakeCodec.TryParseMetaContextRequest(bytes, 1, out _, parsed));
        Assert.False(NbdHandshakeCodec.TryParseMetaContextRequest(bytes.AsSpan(0, bytes.Length - 1), 16, out _, parsed));
    }

    [Fact]
    public void Strings_with_nul_or_invalid_utf8_are_rejected()
    {
        Assert.False(NbdStrings.TryDecode("a\0b"u8, out _));
        Assert.False(NbdStrings.TryDecode([0xc3, 0x28], out _));
        Assert.False(NbdStrings.TryDecode(new byte[NbdProtocol.MaxStringLength + 1], out _));
        Assert.True(NbdStrings.TryDecode("ok"u8, out var ok));
        Assert.Equal("ok", ok);
    }

    [Fact]
    public void Reply_headers_are_recognised_by_magic()
    {
        var simple = new byte[NbdTransmissionCodec.SimpleReplySize];
        NbdTransmissionCodec.WriteSimpleReply(simple, NbdError.Perm, 42);
        Assert.True(NbdTransmissionCodec.TryPeekReplyHeader(Segments.Split(simple, 3), out var reply));
        Assert.Equal(new NbdReplyHeader(false, NbdError.Perm, NbdReplyFlags.Done, NbdReplyType.None, 42, 0), reply);

        var chunk = new byte[NbdTransmissionCodec.ChunkHeaderSize];
        NbdTransmissionCodec.WriteChunkHeader(chunk, NbdReplyFlags.Done, NbdReplyType.BlockStatus, 7, 12);
        Assert.True(NbdTransmissionCodec.TryPeekReplyHeader(Segments.Split(chunk, 1), out reply));
        Assert.Equal(new NbdReplyHeader(true, NbdError.None, NbdReplyFlags.Done, NbdReplyType.BlockStatus, 7, 12), reply);
        Assert.False(NbdTransmissionCodec.TryPeekReplyHeader(Segments.Split(chunk[..19], 4), out _));

        chunk[1] ^= 1;
        Assert.Throws<NbdProtocolException>(() => NbdTransmissionCodec.TryPeekReplyHeader(new ReadOnlySequence<byte>(chunk), out _));
    }

    [Fact]
    public void Block_status_and_error_payloads_round_trip()
    {
        AllocationExtent[] extents = [new(4096, AllocationFlags.Allocated), new(8192, AllocationFlags.Hole | AllocationFlags.Zero)];
        var bytes = new byte[NbdTransmissionCodec.BlockStatusLength(extents.Length)];
        NbdTransmissionCodec.WriteBlockStatus(bytes, 1, extents);
        var parsed = new List<AllocationExtent>();
        Assert.True(NbdTransmissionCodec.TryParseBlockStatus(bytes, out uint contextId, parsed));
        Assert.Equal(1u, contextId);
        Assert.Equal(extents, parsed);
        Assert.False(NbdTransmissionCodec.TryParseBlockStatus(bytes.AsSpan(0, 10), out _, parsed));

        var error = new byte[NbdTransmissionCodec.ErrorPayloadLength("no space")];
        NbdTransmissionCodec.WriteErrorPayload(error, NbdError.NoSpc, "no space");
        Assert.True(NbdTransmissionCodec.TryParseError(error, out var code, out var message));
        Assert.Equal((NbdError.NoSpc, "no space"), (code, message));
        Assert.False(NbdTransmissionCodec.TryParseError(error.AsSpan(0, 7), out _, out _));
    }

    [Fact]
    public void Greeting_and_export_name_reply_round_trip()
    {
        var bytes = new byte[NbdHandshakeCodec.GreetingSize];
        NbdHandshakeCodec.WriteGreeting(bytes, NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes);
        var buffer = Segments.Split(bytes, 5);
        Assert.True(NbdHandshakeCodec.TryReadGreeting(ref buffer, out var flags));
        Assert.Equal(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes, flags);

        var reply = new byte[NbdHandshakeCodec.ExportNameReplySize + NbdProtocol.ExportNameReplyPadding];
        Assert.Equal(reply.Length, NbdHandshakeCodec.WriteExportNameReply(reply, 1 << 30, NbdTransmissionFlags.HasFlags, noZeroes: false));
        var partial = new ReadOnlySequence<byte>(reply, 0, reply.Length - 1);
        Assert.False(NbdHandshakeCodec.TryReadExportNameReply(ref partial, noZeroes: false, out _, out _));
        var whole = new ReadOnlySequence<byte>(reply);
        Assert.True(NbdHandshakeCodec.TryReadExportNameReply(ref whole, noZeroes: false, out ulong size, out _));
        Assert.Equal(1UL << 30, size);
        Assert.True(whole.IsEmpty);
    }
}
