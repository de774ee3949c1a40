using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd;

/// <summary>One transmission-phase request (the payload of a WRITE travels separately).</summary>
public readonly record struct NbdRequest(NbdCommandFlags Flags, NbdCommand Command, ulong Cookie, ulong Offset, uint Length);

/// <summary>
/// A simple reply or the header of one structured reply chunk. <see cref="Size"/> is the header's length on the
/// wire; a structured chunk's payload of <see cref="Length"/> bytes follows, a simple reply's payload length
/// depends on the request it answers.
/// </summary>
public readonly record struct NbdReplyHeader(bool IsStructured, NbdError Error, NbdReplyFlags Flags, NbdReplyType Type, ulong Cookie, uint Length)
{
    public int Size => IsStructured ? NbdTransmissionCodec.ChunkHeaderSize : NbdTransmissionCodec.SimpleReplySize;
}

/// <summary>
/// Transmission-phase messages, in the same style as <see cref="NbdHandshakeCodec"/>: <c>TryRead*</c> return
/// false when more bytes are needed and throw <see cref="NbdProtocolException"/> for malformed input;
/// <c>TryParse*</c> over a complete payload return false when it is malformed; <c>Write*</c> fill the caller's span.
/// </summary>
public static class NbdTransmissionCodec
{
    /// <summary>
    /// <code>
    /// C: 32 bits, 0x25609513, magic (NBD_REQUEST_MAGIC)
    /// C: 16 bits, command flags
    /// C: 16 bits, type
    /// C: 64 bits, cookie
    /// C: 64 bits, offset (unsigned)
    /// C: 32 bits, length (unsigned)
    /// C: (length bytes of data if the request is of type NBD_CMD_WRITE)
    /// </code>
    /// </summary>
    public const int RequestSize = 28;

    /// <summary>
    /// <code>
    /// S: 32 bits, 0x67446698, magic (NBD_SIMPLE_REPLY_MAGIC)
    /// S: 32 bits, error (MAY be zero)
    /// S: 64 bits, cookie
    /// S: (length bytes of data if the request is of type NBD_CMD_READ and error is zero)
    /// </code>
    /// </summary>
    public const int SimpleReplySize = 16;

    /// <summary>
    /// <code>
    /// S: 32 bits, 0x668e33ef, magic (NBD_STRUCTURED_REPLY_MAGIC)
    /// S: 16 bits, flags
    /// S: 16 bits, type
    /// S: 64 bits, cookie
    /// S: 32 bits, length of payload (unsigned)
    /// S: length bytes of payload data (if length is nonzero)
    /// </code>
    /// </summary>
    public const int ChunkHeaderSize = 20;

    /// <summary>NBD_REPLY_TYPE_OFFSET_DATA payload prefix: <code>64 bits: offset (unsigned); length - 8 bytes: data</code></summary>
    public const int OffsetDataPrefixSize = 8;

    /// <summary>NBD_REPLY_TYPE_OFFSET_HOLE payload: <code>64 bits: offset (unsigned); 32 bits: hole size (unsigned, nonzero)</code></summary>
    public const int OffsetHoleSize = 12;

    /// <summary>
    /// NBD_REPLY_TYPE_BLOCK_STATUS payload: <code>32 bits, metadata context ID</code> followed by one or more
    /// descriptors <code>32 bits, length of the extent (nonzero); 32 bits, status flags</code>
    /// </summary>
    public const int BlockStatusDescriptorSize = 8;

    /// <summary>
    /// Error chunk payload: <code>32 bits: error (nonzero); 16 bits: message length; message; (ERROR_OFFSET: 64 bits offset)</code>
    /// </summary>
    public const int ErrorPrefixSize = 6;

    /// <summary>Largest structured chunk accepted: a maximal OFFSET_DATA chunk or a generous block-status list.</summary>
    public const int MaxChunkLength = NbdProtocol.MaxPayload + OffsetDataPrefixSize;

    public static void WriteRequest(Span<byte> destination, in NbdRequest request)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdProtocol.RequestMagic);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)request.Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)request.Command);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], request.Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], request.Offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], request.Length);
    }

    /// <summary>
    /// Read one request and, for NBD_CMD_WRITE, its whole payload. A write longer than
    /// <see cref="NbdProtocol.MaxPayload"/> is rejected before waiting for it: the stream cannot be kept in step cheaply.
    /// </summary>
    public static bool TryReadRequest(ref ReadOnlySequence<byte> buffer, out NbdRequest request, out ReadOnlySequence<byte> payload)
    {
        request = default;
        payload = default;
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[RequestSize], out var header))
            return false;
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (magic != NbdProtocol.RequestMagic)
            throw new NbdProtocolException($"request with bad magic 0x{magic:x8}");
        var parsed = new NbdRequest(
            (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(header[4..]),
            (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(header[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(header[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(header[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(header[24..]));
        long payloadLength = 0;
        if (parsed.Command == NbdCommand.Write)
        {
            if (parsed.Length > NbdProtocol.MaxPayload)
                throw new NbdProtocolException($"write of {parsed.Length} bytes exceeds the {NbdProtocol.MaxPayload}-byte maximum payload");
            payloadLength = parsed.Length;
            if (buffer.Length < RequestSize + payloadLength)
                return false;
        }
        request = parsed;
        payload = buffer.Slice(RequestSize, payloadLength);
        buffer = buffer.Slice(payload.End);
        return true;
    }

    public static void WriteSimpleReply(Span<byte> destination, NbdError error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdProtocol.SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
    }

    public static void WriteChunkHeader(Span<byte> destination, NbdReplyFlags flags, NbdReplyType type, ulong cookie, int length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdProtocol.StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], (uint)length);
    }

    /// <summary>Peek at the next reply's header without consuming it; the caller decides how much payload follows.</summary>
    public static bool TryPeekReplyHeader(in ReadOnlySequence<byte> buffer, out NbdReplyHeader reply)
    {
        reply = default;
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[4], out var magicBytes))
            return false;
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(magicBytes);
        if (magic == NbdProtocol.SimpleReplyMagic)
        {
            if (!SequenceHeader.TryPeek(buffer, stackalloc byte[SimpleReplySize], out var simple))
                return false;
            reply = new NbdReplyHeader(false, (NbdError)BinaryPrimitives.ReadUInt32BigEndian(simple[4..]), NbdReplyFlags.Done,
                NbdReplyType.None, BinaryPrimitives.ReadUInt64BigEndian(simple[8..]), 0);
            return true;
        }
        if (magic != NbdProtocol.StructuredReplyMagic)
            throw new NbdProtocolException($"reply with bad magic 0x{magic:x8}");
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[ChunkHeaderSize], out var chunk))
            return false;
        uint length = BinaryPrimitives.ReadUInt32BigEndian(chunk[16..]);
        if (length > MaxChunkLength)
            throw new NbdProtocolException($"structured reply chunk of {length} bytes exceeds {MaxChunkLength}");
        reply = new NbdReplyHeader(true, NbdError.None, (NbdReplyFlags)BinaryPrimitives.ReadUInt16BigEndian(chunk[4..]),
            (NbdReplyType)BinaryPrimitives.ReadUInt16BigEndian(chunk[6..]), BinaryPrimitives.ReadUInt64BigEndian(chunk[8..]), length);
        return true;
    }

    /// <summary>Header and offset of a one-chunk OFFSET_DATA reply; the data itself follows.</summary>
    public static void WriteOffsetDataHeader(Span<byte> destination, NbdReplyFlags flags, ulong cookie, ulong offset, int dataLength)
    {
        WriteChunkHeader(destination, flags, NbdReplyType.OffsetData, cookie, OffsetDataPrefixSize + dataLength);
        BinaryPrimitives.WriteUInt64BigEndian(destination[ChunkHeaderSize..], offset);
    }

    public static bool TryParseOffsetData(in ReadOnlySequence<byte> payload, out ulong offset, out ReadOnlySequence<byte> data)
    {
        offset = 0;
        data = default;
        if (payload.Length <= OffsetDataPrefixSize || !SequenceHeader.TryPeek(payload, stackalloc byte[OffsetDataPrefixSize], out var prefix))
            return false;
        offset = BinaryPrimitives.ReadUInt64BigEndian(prefix);
        data = payload.Slice(OffsetDataPrefixSize);
        return true;
    }

    public static bool TryParseOffsetHole(ReadOnlySpan<byte> payload, out ulong offset, out uint length)
    {
        offset = 0;
        length = 0;
        if (payload.Length != OffsetHoleSize)
            return false;
        offset = BinaryPrimitives.ReadUInt64BigEndian(payload);
        length = BinaryPrimitives.ReadUInt32BigEndian(payload[8..]);
        return length != 0;
    }

    public static int BlockStatusLength(int descriptorCount) => 4 + BlockStatusDescriptorSize * descriptorCount;

    public static int WriteBlockStatus(Span<byte> destination, uint contextId, ReadOnlySpan<AllocationExtent> extents)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, contextId);
        int at = 4;
        foreach (var extent in extents)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[at..], checked((uint)extent.Length));
            BinaryPrimitives.WriteUInt32BigEndian(destination[(at + 4)..], (uint)extent.Flags);
            at += BlockStatusDescriptorSize;
        }
        return at;
    }

    /// <summary>Parse a BLOCK_STATUS payload into <paramref name="extents"/> (appended).</summary>
    public static bool TryParseBlockStatus(ReadOnlySpan<byte> payload, out uint contextId, List<AllocationExtent> extents)
    {
        contextId = 0;
        if (payload.Length < 4 + BlockStatusDescriptorSize || (payload.Length - 4) % BlockStatusDescriptorSize != 0)
            return false;
        contextId = BinaryPrimitives.ReadUInt32BigEndian(payload);
        for (int at = 4; at < payload.Length; at += BlockStatusDescriptorSize)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(payload[at..]);
            if (length == 0)
                return false;
            extents.Add(new AllocationExtent(length, (AllocationFlags)BinaryPrimitives.ReadUInt32BigEndian(payload[(at + 4)..])));
        }
        return true;
    }

    public static int ErrorPayloadLength(string message) => ErrorPrefixSize + Encoding.UTF8.GetByteCount(message);

    public static int WriteErrorPayload(Span<byte> destination, NbdError error, string message)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)error);
        int length = NbdStrings.Encode(message, destination[ErrorPrefixSize..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)length);
        return ErrorPrefixSize + length;
    }

    /// <summary>Parse any error chunk's common prefix (NBD_REPLY_TYPE_ERROR, ERROR_OFFSET or an unknown error type).</summary>
    public static bool TryParseError(ReadOnlySpan<byte> payload, out NbdError error, out string message)
    {
        error = NbdError.None;
        message = "";
        if (payload.Length < ErrorPrefixSize)
            return false;
        error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(payload);
        int length = BinaryPrimitives.ReadUInt16BigEndian(payload[4..]);
        if (length > payload.Length - ErrorPrefixSize)
            return false;
        // Messages are for humans: show what arrived even when it is not strictly a legal NBD string.
        message = Encoding.UTF8.GetString(payload.Slice(ErrorPrefixSize, length));
        return error != NbdError.None;
    }
}
