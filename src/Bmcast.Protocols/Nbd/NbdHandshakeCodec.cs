using System.Buffers;
using System.Buffers.Binary;

namespace Bmcast.Protocols.Nbd;

/// <summary>
/// Fixed newstyle handshake messages. <c>TryRead*</c> over a sequence return false when more bytes are
/// needed (consuming nothing) and throw <see cref="NbdProtocolException"/> for malformed input; on success
/// they slice the message off <c>buffer</c>. <c>TryParse*</c> over a complete option payload return false
/// when it is invalid (answered with NBD_REP_ERR_INVALID). <c>Write*</c> fill the caller's span and return
/// the bytes written.
/// </summary>
public static class NbdHandshakeCodec
{
    /// <summary>
    /// <code>
    /// S: 64 bits, 0x4e42444d41474943 ("NBDMAGIC")
    /// S: 64 bits, 0x49484156454F5054 ("IHAVEOPT")
    /// S: 16 bits, handshake flags
    /// </code>
    /// </summary>
    public const int GreetingSize = 18;

    /// <summary><code>C: 32 bits, client flags</code></summary>
    public const int ClientFlagsSize = 4;

    /// <summary>
    /// <code>
    /// C: 64 bits, 0x49484156454F5054 ("IHAVEOPT")
    /// C: 32 bits, option
    /// C: 32 bits, length of option data (unsigned)
    /// C: any data needed for the chosen option, of length as specified above
    /// </code>
    /// </summary>
    public const int OptionHeaderSize = 16;

    /// <summary>
    /// <code>
    /// S: 64 bits, 0x3e889045565a9 (magic number for replies)
    /// S: 32 bits, the option as sent by the client to which this is a reply
    /// S: 32 bits, reply type
    /// S: 32 bits, length of the reply (may be zero)
    /// S: any data as required by the reply
    /// </code>
    /// </summary>
    public const int OptionReplyHeaderSize = 20;

    /// <summary>
    /// Reply to NBD_OPT_EXPORT_NAME (no option reply header):
    /// <code>
    /// S: 64 bits, size of the export in bytes (unsigned)
    /// S: 16 bits, transmission flags
    /// S: 124 bytes, zeroes (reserved) (unless NBD_FLAG_C_NO_ZEROES was negotiated)
    /// </code>
    /// </summary>
    public const int ExportNameReplySize = 10;

    /// <summary><code>16 bits NBD_INFO_EXPORT, 64 bits size, 16 bits transmission flags</code></summary>
    public const int InfoExportSize = 12;

    /// <summary><code>16 bits NBD_INFO_BLOCK_SIZE, 32 bits minimum, 32 bits preferred, 32 bits maximum payload</code></summary>
    public const int InfoBlockSizeSize = 14;

    public static void WriteGreeting(Span<byte> destination, NbdHandshakeFlags flags)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdProtocol.InitMagic);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(destination[16..], (ushort)flags);
    }

    public static bool TryReadGreeting(ref ReadOnlySequence<byte> buffer, out NbdHandshakeFlags flags)
    {
        flags = default;
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[GreetingSize], out var header))
            return false;
        if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdProtocol.InitMagic)
            throw new NbdProtocolException("not an NBD server (bad NBDMAGIC)");
        if (BinaryPrimitives.ReadUInt64BigEndian(header[8..]) != NbdProtocol.OptionMagic)
            throw new NbdProtocolException("server speaks oldstyle negotiation, which is not supported");
        flags = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(header[16..]);
        buffer = buffer.Slice(GreetingSize);
        return true;
    }

    public static void WriteClientFlags(Span<byte> destination, NbdClientFlags flags) =>
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)flags);

    public static bool TryReadClientFlags(ref ReadOnlySequence<byte> buffer, out NbdClientFlags flags)
    {
        flags = default;
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[ClientFlagsSize], out var header))
            return false;
        flags = (NbdClientFlags)BinaryPrimitives.ReadUInt32BigEndian(header);
        buffer = buffer.Slice(ClientFlagsSize);
        return true;
    }

    public static void WriteOptionHeader(Span<byte> destination, NbdOption option, int length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], (uint)length);
    }

    /// <summary>Read one client option with its whole payload; oversized payloads are rejected before waiting for them.</summary>
    public static bool TryReadOption(ref ReadOnlySequence<byte> buffer, out NbdOption option, out ReadOnlySequence<byte> payload)
    {
        option = default;
        payload = default;
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[OptionHeaderSize], out var header))
            return false;
        if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdProtocol.OptionMagic)
            throw new NbdProtocolException("option without IHAVEOPT magic");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        if (length > NbdProtocol.MaxOptionLength)
            throw new NbdProtocolException($"option payload of {length} bytes exceeds {NbdProtocol.MaxOptionLength}");
        if (buffer.Length < OptionHeaderSize + length)
            return false;
        option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        payload = buffer.Slice(OptionHeaderSize, length);
        buffer = buffer.Slice(payload.End);
        return true;
    }

    public static void WriteOptionReplyHeader(Span<byte> destination, NbdOption option, NbdOptionReply reply, int length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdProtocol.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], (uint)reply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], (uint)length);
    }

    public static bool TryReadOptionReply(ref ReadOnlySequence<byte> buffer, out NbdOption option, out NbdOptionReply reply,
        out ReadOnlySequence<byte> payload)
    {
        option = default;
        reply = default;
        payload = default;
        if (!SequenceHeader.TryPeek(buffer, stackalloc byte[OptionReplyHeaderSize], out var header))
            return false;
        if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdProtocol.OptionReplyMagic)
            throw new NbdProtocolException("option reply with bad magic");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        if (length > NbdProtocol.MaxOptionLength)
            throw new NbdProtocolException($"option reply of {length} bytes exceeds {NbdProtocol.MaxOptionLength}");
        if (buffer.Length < OptionReplyHeaderSize + length)
            return false;
        option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        reply = (NbdOptionReply)BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        payload = buffer.Slice(OptionReplyHeaderSize, length);
        buffer = buffer.Slice(payload.End);
        return true;
    }

    public static int WriteExportNameReply(Span<byte> destination, ulong size, NbdTransmissionFlags flags, bool noZeroes)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, size);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], (ushort)flags);
        if (noZeroes)
            return ExportNameReplySize;
        destination.Slice(ExportNameReplySize, NbdProtocol.ExportNameReplyPadding).Clear();
        return ExportNameReplySize + NbdProtocol.ExportNameReplyPadding;
    }

    public static bool TryReadExportNameReply(ref ReadOnlySequence<byte> buffer, bool noZeroes, out ulong size, out NbdTransmissionFlags flags)
    {
        size = 0;
        flags = default;
        int total = ExportNameReplySize + (noZeroes ? 0 : NbdProtocol.ExportNameReplyPadding);
        if (buffer.Length < total || !SequenceHeader.TryPeek(buffer, stackalloc byte[ExportNameReplySize], out var header))
            return false;
        size = BinaryPrimitives.ReadUInt64BigEndian(header);
        flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(header[8..]);
        buffer = buffer.Slice(total);
        return true;
    }

    /// <summary>
    /// NBD_OPT_INFO / NBD_OPT_GO payload:
    /// <code>
    /// 32 bits, length of name (unsigned); MUST be no larger than the option data length - 6
    /// String: name of the export
    /// 16 bits, number of information requests
    /// 16 bits x n - list of NBD_INFO information requests
    /// </code>
    /// </summary>
    public static int ExportRequestLength(string name, int infoCount) => 4 + NbdStrings.ByteCount(name) + 2 + 2 * infoCount;

    public static int WriteExportRequest(Span<byte> destination, string name, ReadOnlySpan<NbdInfo> infos)
    {
        int nameLength = NbdStrings.Encode(name, destination[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)nameLength);
        int at = 4 + nameLength;
        BinaryPrimitives.WriteUInt16BigEndian(destination[at..], (ushort)infos.Length);
        at += 2;
        foreach (var info in infos)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[at..], (ushort)info);
            at += 2;
        }
        return at;
    }

    /// <summary><paramref name="infoRequests"/> holds the raw big-endian 16-bit request list.</summary>
    public static bool TryParseExportRequest(ReadOnlySpan<byte> payload, out string name, out ReadOnlySpan<byte> infoRequests)
    {
        name = "";
        infoRequests = default;
        if (payload.Length < 6)
            return false;
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(payload);
        if (nameLength > payload.Length - 6 || !NbdStrings.TryDecode(payload.Slice(4, (int)nameLength), out name))
            return false;
        var rest = payload[(4 + (int)nameLength)..];
        int count = BinaryPrimitives.ReadUInt16BigEndian(rest);
        if (rest.Length != 2 + 2 * count)
            return false;
        infoRequests = rest[2..];
        return true;
    }

    /// <summary>
    /// NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT payload:
    /// <code>
    /// 32 bits, length of export name
    /// String, name of export
    /// 32 bits, number of queries
    /// Zero or more queries, each being: 32 bits, length of query; String, query
    /// </code>
    /// </summary>
    public static int MetaContextRequestLength(string name, IReadOnlyList<string> queries) =>
        4 + NbdStrings.ByteCount(name) + 4 + queries.Sum(q => 4 + NbdStrings.ByteCount(q));

    public static int WriteMetaContextRequest(Span<byte> destination, string name, IReadOnlyList<string> queries)
    {
        int at = WriteLengthPrefixedString(destination, name);
        BinaryPrimitives.WriteUInt32BigEndian(destination[at..], (uint)queries.Count);
        at += 4;
        foreach (var query in queries)
            at += WriteLengthPrefixedString(destination[at..], query);
        return at;
    }

    /// <summary>Parse into <paramref name="queries"/> (cleared first); at most <paramref name="maxQueries"/> are accepted.</summary>
    public static bool TryParseMetaContextRequest(ReadOnlySpan<byte> payload, int maxQueries, out string exportName, List<string> queries)
    {
        queries.Clear();
        if (!TryReadLengthPrefixedString(ref payload, out exportName) || payload.Length < 4)
            return false;
        uint count = BinaryPrimitives.ReadUInt32BigEndian(payload);
        payload = payload[4..];
        if (count > maxQueries)
            return false;
        for (uint i = 0; i < count; i++)
        {
            if (!TryReadLengthPrefixedString(ref payload, out var query))
                return false;
            queries.Add(query);
        }
        return payload.IsEmpty;
    }

    /// <summary>NBD_REP_SERVER payload: <code>32 bits, length of name; String, name; String, description (rest)</code></summary>
    public static int ServerReplyLength(string name, string description) => 4 + NbdStrings.ByteCount(name) + NbdStrings.ByteCount(description);

    public static int WriteServerReply(Span<byte> destination, string name, string description)
    {
        int at = WriteLengthPrefixedString(destination, name);
        return at + NbdStrings.Encode(description, destination[at..]);
    }

    public static bool TryParseServerReply(ReadOnlySpan<byte> payload, out string name, out string description)
    {
        description = "";
        return TryReadLengthPrefixedString(ref payload, out name) && NbdStrings.TryDecode(payload, out description);
    }

    /// <summary>NBD_REP_INFO payload starts with the 16-bit information type.</summary>
    public static bool TryParseInfo(ReadOnlySpan<byte> payload, out NbdInfo type, out ReadOnlySpan<byte> body)
    {
        type = default;
        body = default;
        if (payload.Length < 2)
            return false;
        type = (NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(payload);
        body = payload[2..];
        return true;
    }

    public static void WriteInfoExport(Span<byte> destination, ulong size, NbdTransmissionFlags flags)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)NbdInfo.Export);
        BinaryPrimitives.WriteUInt64BigEndian(destination[2..], size);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], (ushort)flags);
    }

    /// <summary>Body (after the type) of NBD_INFO_EXPORT.</summary>
    public static bool TryParseInfoExport(ReadOnlySpan<byte> body, out ulong size, out NbdTransmissionFlags flags)
    {
        size = 0;
        flags = default;
        if (body.Length != InfoExportSize - 2)
            return false;
        size = BinaryPrimitives.ReadUInt64BigEndian(body);
        flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(body[8..]);
        return true;
    }

    /// <summary>NBD_INFO_NAME or NBD_INFO_DESCRIPTION: <code>16 bits type; String (rest)</code></summary>
    public static int WriteInfoString(Span<byte> destination, NbdInfo type, string value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)type);
        return 2 + NbdStrings.Encode(value, destination[2..]);
    }

    public static void WriteInfoBlockSize(Span<byte> destination, uint minimum, uint preferred, uint maximum)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)NbdInfo.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], minimum);
        BinaryPrimitives.WriteUInt32BigEndian(destination[6..], preferred);
        BinaryPrimitives.WriteUInt32BigEndian(destination[10..], maximum);
    }

    /// <summary>Body (after the type) of NBD_INFO_BLOCK_SIZE.</summary>
    public static bool TryParseInfoBlockSize(ReadOnlySpan<byte> body, out uint minimum, out uint preferred, out uint maximum)
    {
        minimum = preferred = maximum = 0;
        if (body.Length != InfoBlockSizeSize - 2)
            return false;
        minimum = BinaryPrimitives.ReadUInt32BigEndian(body);
        preferred = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
        maximum = BinaryPrimitives.ReadUInt32BigEndian(body[8..]);
        return true;
    }

    /// <summary>NBD_REP_META_CONTEXT payload: <code>32 bits, context ID; String, name (rest)</code></summary>
    public static int WriteMetaContextReply(Span<byte> destination, uint contextId, string name)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, contextId);
        return 4 + NbdStrings.Encode(name, destination[4..]);
    }

    public static bool TryParseMetaContextReply(ReadOnlySpan<byte> payload, out uint contextId, out string name)
    {
        contextId = 0;
        name = "";
        if (payload.Length < 4)
            return false;
        contextId = BinaryPrimitives.ReadUInt32BigEndian(payload);
        return NbdStrings.TryDecode(payload[4..], out name);
    }

    private static int WriteLengthPrefixedString(Span<byte> destination, string value)
    {
        int length = NbdStrings.Encode(value, destination[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)length);
        return 4 + length;
    }

    private static bool TryReadLengthPrefixedString(ref ReadOnlySpan<byte> payload, out string value)
    {
        value = "";
        if (payload.Length < 4)
            return false;
        uint length = BinaryPrimitives.ReadUInt32BigEndian(payload);
        if (length > payload.Length - 4 || !NbdStrings.TryDecode(payload.Slice(4, (int)length), out value))
            return false;
        payload = payload[(4 + (int)length)..];
        return true;
    }
}
