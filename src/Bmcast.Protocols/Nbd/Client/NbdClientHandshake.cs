using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Transport;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// The client's side of the handshake: structured replies and <c>base:allocation</c> when offered, then
/// OPT_GO, falling back to OPT_EXPORT_NAME for servers that predate it. With <paramref name="tls"/>, NBD_OPT_STARTTLS
/// comes first and nothing else is said until TLS is up (a server that refuses it is not spoken to in plaintext).
/// </summary>
internal sealed class NbdClientHandshake(IDuplexPipe transport, SslClientAuthenticationOptions? tls = null)
{
    private const string BaseAllocation = "base:allocation";
    private const uint DefaultMinimumBlockSize = 1;
    private const uint DefaultPreferredBlockSize = NbdProtocol.PreferredBlockSize;

    private delegate int PayloadWriter<T>(Span<byte> destination, T state);

    private readonly record struct OptionReply(NbdOption Option, NbdOptionReply Type, byte[] Payload);

    private bool _noZeroes;

    /// <summary>Whether NBD_OPT_STARTTLS was acknowledged (the TLS handshake may since have failed).</summary>
    public bool TlsStarted { get; private set; }

    /// <summary>The negotiated export and the context ID of base:allocation (0 when not negotiated).</summary>
    public async Task<(NbdExportInfo Export, uint BaseAllocationContextId)> NegotiateAsync(string exportName, CancellationToken cancellationToken)
    {
        bool fixedNewstyle = await OpenAsync(cancellationToken);
        if (!fixedNewstyle)
            return (await ExportNameAsync(exportName, structuredReplies: false, cancellationToken), 0);

        bool structured = await SimpleOptionAsync(NbdOption.StructuredReply, cancellationToken);
        uint contextId = structured ? await SetMetaContextAsync(exportName, cancellationToken) : 0;
        var export = await GoAsync(exportName, structured, contextId, cancellationToken)
            ?? await ExportNameAsync(exportName, structured, cancellationToken);
        return (export, contextId);
    }

    /// <summary>NBD_OPT_LIST, then a polite NBD_OPT_ABORT.</summary>
    public async Task<IReadOnlyList<ExportListing>> ListAsync(CancellationToken cancellationToken)
    {
        if (!await OpenAsync(cancellationToken))
            throw new IOException("the server does not speak fixed newstyle, so it cannot list exports");
        await SendOptionAsync(NbdOption.List, 0, 0, static (_, _) => 0, cancellationToken);
        var exports = new List<ExportListing>();
        while (true)
        {
            var reply = await ReadReplyAsync(NbdOption.List, cancellationToken);
            if (reply.Type == NbdOptionReply.Ack)
                break;
            if (reply.Type.IsError())
                throw Refused("NBD_OPT_LIST", reply);
            if (reply.Type == NbdOptionReply.Server)
            {
                if (!NbdHandshakeCodec.TryParseServerReply(reply.Payload, out var name, out var description))
                    throw new NbdProtocolException("malformed NBD_REP_SERVER");
                exports.Add(new ExportListing(name, description));
            }
        }
        await AbortAsync(cancellationToken);
        return exports;
    }

    /// <summary>Read the greeting and answer it; true when the server speaks fixed newstyle.</summary>
    private async Task<bool> GreetAsync(CancellationToken cancellationToken)
    {
        var serverFlags = await transport.Input.ReadMessageAsync<NbdHandshakeFlags>(NbdHandshakeCodec.TryReadGreeting, cancellationToken);
        bool fixedNewstyle = (serverFlags & NbdHandshakeFlags.FixedNewstyle) != 0;
        _noZeroes = (serverFlags & NbdHandshakeFlags.NoZeroes) != 0;
        var clientFlags = (fixedNewstyle ? NbdClientFlags.FixedNewstyle : 0) | (_noZeroes ? NbdClientFlags.NoZeroes : 0);
        NbdHandshakeCodec.WriteClientFlags(transport.Output.GetSpan(NbdHandshakeCodec.ClientFlagsSize), clientFlags);
        transport.Output.Advance(NbdHandshakeCodec.ClientFlagsSize);
        await transport.Output.FlushAsync(cancellationToken);
        return fixedNewstyle;
    }

    /// <summary>Greet and, with TLS, upgrade before saying anything else; true when the server speaks fixed newstyle.</summary>
    private async Task<bool> OpenAsync(CancellationToken cancellationToken)
    {
        bool fixedNewstyle = await GreetAsync(cancellationToken);
        if (tls is not null)
            await StartTlsAsync(fixedNewstyle, tls, cancellationToken);
        return fixedNewstyle;
    }

    private async Task StartTlsAsync(bool fixedNewstyle, SslClientAuthenticationOptions options, CancellationToken cancellationToken)
    {
        if (!fixedNewstyle)
            throw new IOException("the NBD server does not speak fixed newstyle, so it cannot do TLS");
        await SendOptionAsync(NbdOption.StartTls, 0, 0, static (_, _) => 0, cancellationToken);
        var reply = await ReadReplyAsync(NbdOption.StartTls, cancellationToken);
        if (reply.Type != NbdOptionReply.Ack)
            throw new IOException($"the NBD server does not offer TLS (it answered NBD_OPT_STARTTLS with {reply.Type})");
        if (transport is not ITlsUpgradableTransport upgradable)
            throw new InvalidOperationException("this transport cannot carry TLS");
        TlsStarted = true;
        await upgradable.StartTlsAsync((ssl, token) => ssl.AuthenticateAsClientAsync(options, token), cancellationToken);
    }

    /// <summary>An option without data whose answer is ACK or an error; true on ACK.</summary>
    private async Task<bool> SimpleOptionAsync(NbdOption option, CancellationToken cancellationToken)
    {
        await SendOptionAsync(option, 0, 0, static (_, _) => 0, cancellationToken);
        var reply = await ReadReplyAsync(option, cancellationToken);
        return reply.Type == NbdOptionReply.Ack;
    }

    private async Task<uint> SetMetaContextAsync(string exportName, CancellationToken cancellationToken)
    {
        string[] queries = [BaseAllocation];
        await SendOptionAsync(NbdOption.SetMetaContext, NbdHandshakeCodec.MetaContextRequestLength(exportName, queries), (exportName, queries),
            static (span, s) => NbdHandshakeCodec.WriteMetaContextRequest(span, s.exportName, s.queries), cancellationToken);
        uint contextId = 0;
        while (true)
        {
            var reply = await ReadReplyAsync(NbdOption.SetMetaContext, cancellationToken);
            if (reply.Type == NbdOptionReply.Ack)
                return contextId;
            if (reply.Type.IsError())
                return 0; // Block status is an optimisation: do without it.
            if (reply.Type == NbdOptionReply.MetaContext
                && NbdHandshakeCodec.TryParseMetaContextReply(reply.Payload, out uint id, out var name) && name == BaseAllocation)
                contextId = id;
        }
    }

    /// <summary>NBD_OPT_GO; null when the server does not know the option (fall back to NBD_OPT_EXPORT_NAME).</summary>
    private async Task<NbdExportInfo?> GoAsync(string exportName, bool structured, uint contextId, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<NbdInfo> requests = new[] { NbdInfo.BlockSize };
        await SendOptionAsync(NbdOption.Go, NbdHandshakeCodec.ExportRequestLength(exportName, requests.Length), (exportName, requests),
            static (span, s) => NbdHandshakeCodec.WriteExportRequest(span, s.exportName, s.requests.Span), cancellationToken);
        (ulong Size, NbdTransmissionFlags Flags)? export = null;
        (uint Min, uint Preferred, uint Max) sizes = (DefaultMinimumBlockSize, DefaultPreferredBlockSize, NbdProtocol.MaxPayload);
        while (true)
        {
            var reply = await ReadReplyAsync(NbdOption.Go, cancellationToken);
            if (reply.Type == NbdOptionReply.ErrUnsup)
                return null;
            if (reply.Type.IsError())
                throw Refused($"export '{exportName}'", reply);
            if (reply.Type == NbdOptionReply.Ack)
                break;
            if (reply.Type != NbdOptionReply.Info || !NbdHandshakeCodec.TryParseInfo(reply.Payload, out var type, out _))
                continue;
            var body = reply.Payload.AsSpan(2);
            if (type == NbdInfo.Export && NbdHandshakeCodec.TryParseInfoExport(body, out ulong size, out var flags))
                export = (size, flags);
            else if (type == NbdInfo.BlockSize && NbdHandshakeCodec.TryParseInfoBlockSize(body, out uint min, out uint preferred, out uint max))
                sizes = (min, preferred, max);
        }
        if (export is not { } e)
            throw new NbdProtocolException("server acknowledged NBD_OPT_GO without NBD_INFO_EXPORT");
        // Never ask for more than the spec's default maximum, and never split requests into nothing.
        uint maxPayload = sizes.Max == 0 ? NbdProtocol.MaxPayload : Math.Min(sizes.Max, NbdProtocol.MaxPayload);
        return Info(exportName, e.Size, e.Flags, structured, contextId, sizes.Min, sizes.Preferred, maxPayload);
    }

    private async Task<NbdExportInfo> ExportNameAsync(string exportName, bool structuredReplies, CancellationToken cancellationToken)
    {
        await SendOptionAsync(NbdOption.ExportName, NbdStrings.ByteCount(exportName), exportName,
            static (span, name) => NbdStrings.Encode(name, span), cancellationToken);
        bool noZeroes = _noZeroes;
        try
        {
            var (size, flags) = await transport.Input.ReadMessageAsync<(ulong, NbdTransmissionFlags)>(
                (ref ReadOnlySequence<byte> buffer, out (ulong, NbdTransmissionFlags) reply) =>
                {
                    bool done = NbdHandshakeCodec.TryReadExportNameReply(ref buffer, noZeroes, out ulong s, out var f);
                    reply = (s, f);
                    return done;
                }, cancellationToken);
            return Info(exportName, size, flags, structuredReplies, 0, DefaultMinimumBlockSize, DefaultPreferredBlockSize, NbdProtocol.MaxPayload);
        }
        catch (EndOfStreamException)
        {
            throw new IOException($"the server closed the connection: it has no export '{exportName}'");
        }
    }

    private static NbdExportInfo Info(string name, ulong size, NbdTransmissionFlags flags, bool structured, uint contextId,
        uint min, uint preferred, uint max)
    {
        if (size > long.MaxValue)
            throw new NbdProtocolException($"export size {size} is out of range");
        return new NbdExportInfo(name, (long)size, flags, structured, contextId != 0, min, preferred, max);
    }

    private async Task AbortAsync(CancellationToken cancellationToken)
    {
        await SendOptionAsync(NbdOption.Abort, 0, 0, static (_, _) => 0, cancellationToken);
        try
        {
            await ReadReplyAsync(NbdOption.Abort, cancellationToken);
        }
        catch (IOException)
        {
            // The spec lets servers hang up without acknowledging NBD_OPT_ABORT.
        }
    }

    private async Task SendOptionAsync<T>(NbdOption option, int length, T state, PayloadWriter<T> writePayload, CancellationToken cancellationToken)
    {
        var span = transport.Output.GetSpan(NbdHandshakeCodec.OptionHeaderSize + length);
        int written = writePayload(span[NbdHandshakeCodec.OptionHeaderSize..], state);
        NbdHandshakeCodec.WriteOptionHeader(span, option, written);
        transport.Output.Advance(NbdHandshakeCodec.OptionHeaderSize + written);
        await transport.Output.FlushAsync(cancellationToken);
    }

    private async Task<OptionReply> ReadReplyAsync(NbdOption option, CancellationToken cancellationToken)
    {
        var reply = await transport.Input.ReadMessageAsync<OptionReply>(static (ref ReadOnlySequence<byte> buffer, out OptionReply message) =>
        {
            message = default;
            if (!NbdHandshakeCodec.TryReadOptionReply(ref buffer, out var o, out var type, out var payload))
                return false;
            message = new OptionReply(o, type, payload.ToArray());
            return true;
        }, cancellationToken);
        if (reply.Option != option)
            throw new NbdProtocolException($"server answered option {reply.Option} while {option} was pending");
        return reply;
    }

    private static NbdOptionRefusedException Refused(string what, OptionReply reply)
    {
        if (reply.Type == NbdOptionReply.ErrTlsReqd)
            return new NbdOptionRefusedException(reply.Type, "the NBD server requires TLS: use an nbds:// or nbds+unix:// URI");
        NbdStrings.TryDecode(reply.Payload, out var message);
        string detail = message.Length > 0 ? $": {message}" : "";
        return new NbdOptionRefusedException(reply.Type, $"NBD server refused {what} with {reply.Type}{detail}");
    }
}
