using System.Buffers.Binary;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// What a hostile NBD server sends a client: the whole conversation <see cref="NbdClientFuzzTarget"/> expects
/// (greeting, option replies, then replies to its requests with cookies 1, 2, 3), simple or structured, then
/// damaged: a header field such as a length, cookie or export size set to a boundary value, bytes flipped,
/// the script cut short; or pure noise.
/// </summary>
public static class NbdClientScripts
{
    public const string Export = "disk";
    public const long ExportSize = 1 << 20;
    /// <summary>The client reads this much at offset 0, then (structured) asks for block status, then reads at ReadLength.</summary>
    public const int ReadLength = 512;
    private const uint ContextId = 7;
    // 256 splits each read in two; a payload limit of 1 byte would make hundreds of requests of every read, slowly.
    private static readonly uint[] MaximumPayloads = [0, 256, 4096, NbdProtocol.MaxPayload, uint.MaxValue];

    public static byte[] Generate(Random random)
    {
        if (random.Next(8) == 0)
            return Mutations.Noise(random, 2048);
        var script = new Script();
        bool fixedNewstyle = random.Next(8) > 0;
        bool structured = fixedNewstyle && random.Next(4) > 0;
        script.Greeting(fixedNewstyle);
        if (fixedNewstyle)
            Haggle(script, random, structured);
        else
            script.ExportNameReply(ExportSize, Flags(random));
        ulong cookie = 1;
        Read(script, random, structured, cookie++, 0);
        if (structured)
            script.BlockStatus(cookie++, ContextId, [new AllocationExtent(ExportSize / 2, AllocationFlags.Allocated), new AllocationExtent(ExportSize / 2, AllocationFlags.Hole | AllocationFlags.Zero)]);
        Read(script, random, structured, cookie, ReadLength);
        return random.Next(8) == 0 ? script.ToArray() : script.Damage(random);
    }

    /// <summary>
    /// Where the transmission replies begin in a (possibly damaged) script: at the first reply magic, or the end
    /// when there is none. The fake server holds them back until the client has sent a request.
    /// </summary>
    public static int TransmissionStart(byte[] script) =>
        Math.Min(IndexOrEnd(script, NbdProtocol.SimpleReplyMagic), IndexOrEnd(script, NbdProtocol.StructuredReplyMagic));

    private static int IndexOrEnd(byte[] script, uint magic)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, magic);
        int at = script.AsSpan().IndexOf(bytes);
        return at < 0 ? script.Length : at;
    }

    private static void Haggle(Script script, Random random, bool structured)
    {
        script.OptionReply(NbdOption.StructuredReply, structured ? NbdOptionReply.Ack : NbdOptionReply.ErrUnsup, []);
        if (structured)
        {
            var context = new byte[4 + "base:allocation".Length];
            NbdHandshakeCodec.WriteMetaContextReply(context, ContextId, "base:allocation");
            script.OptionReply(NbdOption.SetMetaContext, NbdOptionReply.MetaContext, context);
            script.OptionReply(NbdOption.SetMetaContext, NbdOptionReply.Ack, []);
        }
        var export = new byte[NbdHandshakeCodec.InfoExportSize];
        NbdHandshakeCodec.WriteInfoExport(export, ExportSize, Flags(random));
        script.OptionReply(NbdOption.Go, NbdOptionReply.Info, export);
        var sizes = new byte[NbdHandshakeCodec.InfoBlockSizeSize];
        NbdHandshakeCodec.WriteInfoBlockSize(sizes, 1, 4096, MaximumPayloads[random.Next(MaximumPayloads.Length)]);
        script.OptionReply(NbdOption.Go, NbdOptionReply.Info, sizes);
        script.OptionReply(NbdOption.Go, NbdOptionReply.Ack, []);
    }

    private static NbdTransmissionFlags Flags(Random random) =>
        NbdTransmissionFlags.HasFlags | (NbdTransmissionFlags)(random.Next(1 << 12) & ~1);

    /// <summary>The reply to a read: simple with data, or (structured) data in one or two chunks, a hole, or an error.</summary>
    private static void Read(Script script, Random random, bool structured, ulong cookie, long offset)
    {
        var data = new byte[ReadLength];
        random.NextBytes(data);
        if (!structured)
        {
            script.SimpleReply(cookie, random.Next(8) == 0 ? NbdError.Io : NbdError.None, data);
            return;
        }
        switch (random.Next(4))
        {
            case 0:
                script.OffsetHole(cookie, offset, ReadLength);
                break;
            case 1:
                script.Error(cookie, NbdError.Io, "injected failure");
                break;
            case 2:
                script.OffsetData(cookie, offset, data.AsSpan(0, ReadLength / 2), done: false);
                script.OffsetData(cookie, offset + ReadLength / 2, data.AsSpan(ReadLength / 2), done: true);
                return;
            default:
                script.OffsetData(cookie, offset, data, done: true);
                return;
        }
        script.Done(cookie);
    }

    /// <summary>The bytes of a conversation, remembering where its header fields are so damage can aim at them.</summary>
    private sealed class Script
    {
        private readonly List<byte> _bytes = [];
        private readonly List<int> _fields = [];

        public byte[] ToArray() => [.. _bytes];

        public byte[] Damage(Random random)
        {
            byte[] bytes = ToArray();
            if (random.Next(2) == 0)
                return Mutations.Mutate(bytes, random, bytes.Length + 512);
            for (int i = random.Next(1, 3); i > 0; i--)
                Mutations.PlantBoundary(bytes.AsSpan(_fields[random.Next(_fields.Count)]), random);
            return random.Next(4) == 0 ? bytes[..random.Next(bytes.Length)] : bytes;
        }

        public void Greeting(bool fixedNewstyle)
        {
            var bytes = new byte[NbdHandshakeCodec.GreetingSize];
            NbdHandshakeCodec.WriteGreeting(bytes, NbdHandshakeFlags.NoZeroes | (fixedNewstyle ? NbdHandshakeFlags.FixedNewstyle : 0));
            Add(bytes, 16);
        }

        public void ExportNameReply(long size, NbdTransmissionFlags flags)
        {
            var bytes = new byte[NbdHandshakeCodec.ExportNameReplySize];
            NbdHandshakeCodec.WriteExportNameReply(bytes, (ulong)size, flags, noZeroes: true);
            Add(bytes, 0, 4, 8);
        }

        public void OptionReply(NbdOption option, NbdOptionReply type, ReadOnlySpan<byte> payload)
        {
            var bytes = new byte[NbdHandshakeCodec.OptionReplyHeaderSize + payload.Length];
            NbdHandshakeCodec.WriteOptionReplyHeader(bytes, option, type, payload.Length);
            payload.CopyTo(bytes.AsSpan(NbdHandshakeCodec.OptionReplyHeaderSize));
            // Option, reply type, length, and the start of the payload (info type, sizes, context id).
            Add(bytes, 8, 12, 16, 20, 24);
        }

        public void SimpleReply(ulong cookie, NbdError error, ReadOnlySpan<byte> data)
        {
            var bytes = new byte[NbdTransmissionCodec.SimpleReplySize + (error == NbdError.None ? data.Length : 0)];
            NbdTransmissionCodec.WriteSimpleReply(bytes, error, cookie);
            if (error == NbdError.None)
                data.CopyTo(bytes.AsSpan(NbdTransmissionCodec.SimpleReplySize));
            Add(bytes, 4, 8, 12);
        }

        public void OffsetData(ulong cookie, long offset, ReadOnlySpan<byte> data, bool done)
        {
            var bytes = new byte[NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.OffsetDataPrefixSize + data.Length];
            NbdTransmissionCodec.WriteOffsetDataHeader(bytes, done ? NbdReplyFlags.Done : NbdReplyFlags.None, cookie, (ulong)offset, data.Length);
            data.CopyTo(bytes.AsSpan(NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.OffsetDataPrefixSize));
            Add(bytes, ChunkFields(4, 20, 24));
        }

        public void OffsetHole(ulong cookie, long offset, uint length)
        {
            var bytes = new byte[NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.OffsetHoleSize];
            NbdTransmissionCodec.WriteChunkHeader(bytes, NbdReplyFlags.None, NbdReplyType.OffsetHole, cookie, NbdTransmissionCodec.OffsetHoleSize);
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(NbdTransmissionCodec.ChunkHeaderSize), (ulong)offset);
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(NbdTransmissionCodec.ChunkHeaderSize + 8), length);
            Add(bytes, ChunkFields(20, 24, 28));
        }

        public void Error(ulong cookie, NbdError error, string message)
        {
            var bytes = new byte[NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.ErrorPayloadLength(message)];
            int length = NbdTransmissionCodec.WriteErrorPayload(bytes.AsSpan(NbdTransmissionCodec.ChunkHeaderSize), error, message);
            NbdTransmissionCodec.WriteChunkHeader(bytes, NbdReplyFlags.None, NbdReplyType.Error, cookie, length);
            Add(bytes, ChunkFields(20, 24));
        }

        public void BlockStatus(ulong cookie, uint contextId, ReadOnlySpan<AllocationExtent> extents)
        {
            var bytes = new byte[NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.BlockStatusLength(extents.Length)];
            int length = NbdTransmissionCodec.WriteBlockStatus(bytes.AsSpan(NbdTransmissionCodec.ChunkHeaderSize), contextId, extents);
            NbdTransmissionCodec.WriteChunkHeader(bytes, NbdReplyFlags.Done, NbdReplyType.BlockStatus, cookie, length);
            Add(bytes, ChunkFields(20, 24, 28));
        }

        public void Done(ulong cookie)
        {
            var bytes = new byte[NbdTransmissionCodec.ChunkHeaderSize];
            NbdTransmissionCodec.WriteChunkHeader(bytes, NbdReplyFlags.Done, NbdReplyType.None, cookie, 0);
            Add(bytes, ChunkFields());
        }

        /// <summary>Flags and type, cookie (both halves), length, and the payload fields given.</summary>
        private static int[] ChunkFields(params int[] payloadFields) => [4, 8, 12, 16, .. payloadFields];

        private void Add(byte[] bytes, params int[] fields)
        {
            foreach (int field in fields)
                if (field + 4 <= bytes.Length)
                    _fields.Add(_bytes.Count + field);
            _bytes.AddRange(bytes);
        }
    }
}
