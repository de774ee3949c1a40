using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Transport;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// The server's side of fixed newstyle option haggling: answers options until the client picks an export
/// (OPT_GO or OPT_EXPORT_NAME), aborts, or breaks the protocol. With <see cref="NbdServerOptions.Tls"/> set, only
/// STARTTLS and ABORT are answered before TLS is up, and exports the client's certificate is not allowed are refused.
/// </summary>
internal sealed class NbdServerHandshake(
    IExportCatalog catalog, NbdServerOptions options, ILogger logger, IDuplexPipe transport, string peer)
{
    public const string BaseAllocation = "base:allocation";
    public const uint BaseAllocationContextId = 1;
    private const string BaseNamespace = "base:";
    private const int MaxMetaContextQueries = 16;
    private const NbdHandshakeFlags ServerFlags = NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes;

    private delegate int PayloadWriter<T>(Span<byte> destination, T state);

    private bool _noZeroes;
    private bool _tlsActive;
    /// <summary>The CN of the client's certificate, once TLS is up and the client presented one.</summary>
    private string? _clientName;
    private bool _structuredReplies;
    /// <summary>The export named by the last successful SET_META_CONTEXT that selected base:allocation.</summary>
    private string? _metaContextExport;

    /// <summary>Read afresh each time: STARTTLS moves the transport onto new pipes.</summary>
    private PipeWriter Output => transport.Output;

    /// <summary>The negotiated session, or null when the client aborted or asked for an export that does not exist.</summary>
    public async Task<NbdExportSession?> NegotiateAsync(CancellationToken cancellationToken)
    {
        NbdHandshakeCodec.WriteGreeting(Output.GetSpan(NbdHandshakeCodec.GreetingSize), ServerFlags);
        Output.Advance(NbdHandshakeCodec.GreetingSize);
        await Output.FlushAsync(cancellationToken);

        var clientFlags = await transport.Input.ReadMessageAsync<NbdClientFlags>(NbdHandshakeCodec.TryReadClientFlags, cancellationToken);
        if ((clientFlags & ~(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes)) != 0)
            throw new NbdProtocolException($"unknown client flags 0x{(uint)clientFlags:x}");
        _noZeroes = (clientFlags & NbdClientFlags.NoZeroes) != 0;

        for (int count = 0; count < options.MaxOptions; count++)
        {
            var (option, payload) = await transport.Input.ReadMessageAsync<(NbdOption, byte[])>(ReadOption, cancellationToken);
            if (options.Tls is not null && !_tlsActive && option is not (NbdOption.StartTls or NbdOption.Abort))
            {
                if (option == NbdOption.ExportName)
                {
                    // It cannot be answered with an error: the spec says to hang up.
                    logger.LogInformation("NBD {Peer}: NBD_OPT_EXPORT_NAME without TLS, closing connection", peer);
                    return null;
                }
                ReplyError(option, NbdOptionReply.ErrTlsReqd, "this server requires TLS: send NBD_OPT_STARTTLS first");
                await Output.FlushAsync(cancellationToken);
                continue;
            }
            switch (option)
            {
                case NbdOption.StartTls when options.Tls is { } tls:
                    await StartTlsAsync(tls, payload, cancellationToken);
                    continue;
                case NbdOption.ExportName:
                    return await ExportNameAsync(payload, cancellationToken);
                case NbdOption.Abort:
                    Reply(option, NbdOptionReply.Ack);
                    await Output.FlushAsync(cancellationToken);
                    return null;
                case NbdOption.Info:
                case NbdOption.Go:
                    var session = await InfoOrGoAsync(option, payload, cancellationToken);
                    await FlushOrReleaseAsync(session, cancellationToken);
                    if (session is not null)
                        return session;
                    continue;
                case NbdOption.List:
                    ListExports(payload);
                    break;
                case NbdOption.StructuredReply:
                    NegotiateStructuredReplies(payload);
                    break;
                case NbdOption.ListMetaContext:
                case NbdOption.SetMetaContext:
                    MetaContext(option, payload);
                    break;
                default:
                    ReplyError(option, NbdOptionReply.ErrUnsup, $"option {(uint)option} is not supported");
                    break;
            }
            await Output.FlushAsync(cancellationToken);
        }
        throw new NbdProtocolException($"client sent more than {options.MaxOptions} options");
    }

    private static bool ReadOption(ref ReadOnlySequence<byte> buffer, out (NbdOption, byte[]) message)
    {
        message = default;
        if (!NbdHandshakeCodec.TryReadOption(ref buffer, out var option, out var payload))
            return false;
        message = (option, payload.ToArray());
        return true;
    }

    private async Task<NbdExportSession?> ExportNameAsync(byte[] payload, CancellationToken cancellationToken)
    {
        if (!NbdStrings.TryDecode(payload, out var name))
            throw new NbdProtocolException("NBD_OPT_EXPORT_NAME with an invalid name");
        if (!Permitted(name))
            return null; // Like an unknown export: this option's only refusal is hanging up.
        var device = await OpenAsync(name, cancellationToken);
        if (device is null)
        {
            // This option cannot answer with an error: the spec's only way out is hanging up.
            logger.LogInformation("NBD {Peer}: unknown export '{Export}' requested with NBD_OPT_EXPORT_NAME", peer, name);
            return null;
        }
        var flags = NbdExportSession.FlagsFor(device.Capabilities, _structuredReplies);
        var span = Output.GetSpan(NbdHandshakeCodec.ExportNameReplySize + NbdProtocol.ExportNameReplyPadding);
        Output.Advance(NbdHandshakeCodec.WriteExportNameReply(span, (ulong)device.Size, flags, _noZeroes));
        var session = Session(name, device, flags);
        await FlushOrReleaseAsync(session, cancellationToken);
        return session;
    }

    /// <summary>Send what is buffered; if that fails, close the device a successful negotiation had opened.</summary>
    private async Task FlushOrReleaseAsync(NbdExportSession? session, CancellationToken cancellationToken)
    {
        try
        {
            await Output.FlushAsync(cancellationToken);
        }
        catch when (session is not null)
        {
            await session.Device.DisposeAsync();
            throw;
        }
    }

    private async Task<NbdExportSession?> InfoOrGoAsync(NbdOption option, byte[] payload, CancellationToken cancellationToken)
    {
        if (!TryParseExportRequest(payload, out var name, out bool wantName, out bool wantDescription))
        {
            ReplyError(option, NbdOptionReply.ErrInvalid, "malformed export request");
            return null;
        }
        if (!Permitted(name))
        {
            ReplyError(option, NbdOptionReply.ErrPolicy, $"this client's certificate may not open '{name}'");
            return null;
        }
        var device = await OpenAsync(name, cancellationToken);
        if (device is null)
        {
            ReplyError(option, NbdOptionReply.ErrUnknown, $"no export named '{name}'");
            return null;
        }
        var flags = NbdExportSession.FlagsFor(device.Capabilities, _structuredReplies);
        Reply(option, NbdOptionReply.Info, NbdHandshakeCodec.InfoExportSize, (device.Size, flags),
            static (span, state) => { NbdHandshakeCodec.WriteInfoExport(span, (ulong)state.Size, state.flags); return NbdHandshakeCodec.InfoExportSize; });
        // Always sent, requested or not: these are the spec's defaults, so no client is surprised by them.
        Reply(option, NbdOptionReply.Info, NbdHandshakeCodec.InfoBlockSizeSize, 0, static (span, _) =>
        {
            NbdHandshakeCodec.WriteInfoBlockSize(span, 1, NbdProtocol.PreferredBlockSize, NbdProtocol.MaxPayload);
            return NbdHandshakeCodec.InfoBlockSizeSize;
        });
        if (wantName)
            ReplyInfoString(option, NbdInfo.Name, name);
        string? description = wantDescription ? catalog.List().FirstOrDefault(e => e.Name == name)?.Description : null;
        if (!string.IsNullOrEmpty(description))
            ReplyInfoString(option, NbdInfo.Description, NbdStrings.Truncate(description));
        Reply(option, NbdOptionReply.Ack);
        if (option == NbdOption.Go)
            return Session(name, device, flags);
        await device.DisposeAsync();
        return null;
    }

    /// <summary>The export name and which optional information items (of those we offer) the client asked for.</summary>
    private static bool TryParseExportRequest(byte[] payload, out string name, out bool wantName, out bool wantDescription)
    {
        wantName = wantDescription = false;
        if (!NbdHandshakeCodec.TryParseExportRequest(payload, out name, out var requests))
            return false;
        for (int i = 0; i < requests.Length; i += 2)
        {
            var info = (NbdInfo)BinaryPrimitives.ReadUInt16BigEndian(requests[i..]);
            wantName |= info == NbdInfo.Name;
            wantDescription |= info == NbdInfo.Description;
        }
        return true;
    }

    /// <summary>Whether this client may open the export; a refusal is logged, for the operator.</summary>
    private bool Permitted(string name)
    {
        if (options.Tls is not { } tls || tls.Permits(name, _clientName))
            return true;
        logger.LogWarning("NBD {Peer}: client {Client} refused export '{Export}' (not in its allow list)", peer, _clientName ?? "without a certificate", name);
        return false;
    }

    /// <summary>Acknowledge NBD_OPT_STARTTLS, then run the TLS handshake; a failed handshake ends the connection.</summary>
    private async Task StartTlsAsync(NbdServerTls tls, byte[] payload, CancellationToken cancellationToken)
    {
        if (_tlsActive || payload.Length != 0)
        {
            ReplyError(NbdOption.StartTls, NbdOptionReply.ErrInvalid, _tlsActive ? "TLS is already on" : "NBD_OPT_STARTTLS takes no data");
            await Output.FlushAsync(cancellationToken);
            return;
        }
        if (transport is not ITlsUpgradableTransport upgradable)
            throw new InvalidOperationException("TLS is configured but this transport cannot carry it");
        Reply(NbdOption.StartTls, NbdOptionReply.Ack);
        await Output.FlushAsync(cancellationToken);
        var (authentication, check) = tls.AuthenticationOptions();
        SslStream stream;
        try
        {
            stream = await upgradable.StartTlsAsync((ssl, token) => ssl.AuthenticateAsServerAsync(authentication, token), cancellationToken);
        }
        catch (AuthenticationException e) when (check?.Failure is { } reason)
        {
            throw new AuthenticationException(reason, e);
        }
        _tlsActive = true;
        _clientName = (stream.RemoteCertificate as X509Certificate2)?.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        logger.LogDebug("NBD {Peer}: TLS {Protocol} up, client certificate {Client}", peer, stream.SslProtocol, _clientName ?? "none");
    }

    private async Task<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await catalog.OpenAsync(name, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "NBD {Peer}: opening export '{Export}' failed", peer, name);
            return null;
        }
    }

    private NbdExportSession Session(string name, IBlockDevice device, NbdTransmissionFlags flags) =>
        new(name, device, flags, _structuredReplies, _metaContextExport == name ? BaseAllocationContextId : 0);

    private void ListExports(byte[] payload)
    {
        if (payload.Length != 0)
        {
            ReplyError(NbdOption.List, NbdOptionReply.ErrInvalid, "NBD_OPT_LIST takes no data");
            return;
        }
        foreach (var export in catalog.List().Where(e => options.Tls?.Permits(e.Name, _clientName) ?? true))
        {
            var entry = (export.Name, Description: NbdStrings.Truncate(export.Description));
            Reply(NbdOption.List, NbdOptionReply.Server, NbdHandshakeCodec.ServerReplyLength(entry.Name, entry.Description), entry,
                static (span, e) => NbdHandshakeCodec.WriteServerReply(span, e.Name, e.Description));
        }
        Reply(NbdOption.List, NbdOptionReply.Ack);
    }

    private void NegotiateStructuredReplies(byte[] payload)
    {
        if (payload.Length != 0)
        {
            ReplyError(NbdOption.StructuredReply, NbdOptionReply.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
            return;
        }
        _structuredReplies = true;
        Reply(NbdOption.StructuredReply, NbdOptionReply.Ack);
    }

    /// <summary>We know one context, base:allocation; LIST also answers the "base:" wildcard and an empty query list.</summary>
    private void MetaContext(NbdOption option, byte[] payload)
    {
        bool select = option == NbdOption.SetMetaContext;
        if (select)
            _metaContextExport = null; // SET replaces the selection even when it fails.
        if (!_structuredReplies)
        {
            ReplyError(option, NbdOptionReply.ErrInvalid, "negotiate NBD_OPT_STRUCTURED_REPLY first");
            return;
        }
        var queries = new List<string>();
        if (!NbdHandshakeCodec.TryParseMetaContextRequest(payload, MaxMetaContextQueries, out var exportName, queries))
        {
            ReplyError(option, NbdOptionReply.ErrInvalid, "malformed meta context request");
            return;
        }
        bool matches = queries.Count == 0
            ? !select
            : queries.Any(q => q == BaseAllocation || (!select && q == BaseNamespace));
        if (matches)
        {
            uint id = select ? BaseAllocationContextId : 0;
            Reply(option, NbdOptionReply.MetaContext, 4 + BaseAllocation.Length, id,
                static (span, contextId) => NbdHandshakeCodec.WriteMetaContextReply(span, contextId, BaseAllocation));
            if (select)
                _metaContextExport = exportName;
        }
        Reply(option, NbdOptionReply.Ack);
    }

    private void ReplyInfoString(NbdOption option, NbdInfo type, string value) =>
        Reply(option, NbdOptionReply.Info, 2 + NbdStrings.ByteCount(value), (type, value),
            static (span, s) => NbdHandshakeCodec.WriteInfoString(span, s.type, s.value));

    /// <summary>An error reply. Messages often quote the client's input (a 4096-byte name): cut to the protocol's string limit.</summary>
    private void ReplyError(NbdOption option, NbdOptionReply error, string message)
    {
        message = NbdStrings.Truncate(message);
        logger.LogDebug("NBD {Peer}: option {Option} answered {Reply}: {Message}", peer, option, error, message);
        Reply(option, error, NbdStrings.ByteCount(message), message, static (span, m) => NbdStrings.Encode(m, span));
    }

    private void Reply(NbdOption option, NbdOptionReply type) => Reply(option, type, 0, 0, static (_, _) => 0);

    private void Reply<T>(NbdOption option, NbdOptionReply type, int maxLength, T state, PayloadWriter<T> writePayload)
    {
        var span = Output.GetSpan(NbdHandshakeCodec.OptionReplyHeaderSize + maxLength);
        int length = writePayload(span[NbdHandshakeCodec.OptionReplyHeaderSize..], state);
        NbdHandshakeCodec.WriteOptionReplyHeader(span, option, type, length);
        Output.Advance(NbdHandshakeCodec.OptionReplyHeaderSize + length);
    }
}
