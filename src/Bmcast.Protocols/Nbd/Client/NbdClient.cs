using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Security.Authentication;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Transport;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// An NBD client for one export. Thread-safe: any number of requests may be outstanding; one reader loop
/// matches replies to requests by cookie. Failures are <see cref="IOException"/>s (server errors are
/// <see cref="BlockDeviceException"/>s carrying the server's errno). No reconnection: after a disconnect
/// every call fails.
/// </summary>
public sealed class NbdClient : IAsyncDisposable
{
    private static readonly TimeSpan DisconnectGrace = TimeSpan.FromSeconds(5);

    private readonly SocketDuplexPipe _transport;
    private readonly uint _baseAllocationContextId;
    private readonly ConcurrentDictionary<ulong, PendingRequest> _pending = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Task _replyLoop;
    private long _lastCookie;
    private Exception? _failure;
    private int _disposed;

    private NbdClient(SocketDuplexPipe transport, NbdExportInfo export, uint baseAllocationContextId)
    {
        _transport = transport;
        Export = export;
        _baseAllocationContextId = baseAllocationContextId;
        _replyLoop = Task.Run(ReadRepliesAsync);
    }

    public NbdExportInfo Export { get; }

    public long Size => Export.Size;

    public static Task<NbdClient> ConnectAsync(NbdUri uri, CancellationToken cancellationToken = default) =>
        ConnectAsync(uri, null, cancellationToken);

    /// <summary>Connect, over TLS when the URI says so, with <paramref name="credentials"/> (default: the system trust store, no client certificate).</summary>
    public static Task<NbdClient> ConnectAsync(NbdUri uri, NbdClientTls? credentials, CancellationToken cancellationToken = default) =>
        ConnectAsync(uri.Endpoint, uri.ExportName, uri.Tls ? credentials ?? NbdClientTls.SystemTrust : null, cancellationToken);

    public static Task<NbdClient> ConnectAsync(NbdEndpoint endpoint, string exportName, CancellationToken cancellationToken = default) =>
        ConnectAsync(endpoint, exportName, null, cancellationToken);

    /// <summary>The exports a server lists (hidden ones are not included).</summary>
    public static Task<IReadOnlyList<ExportListing>> ListExportsAsync(NbdEndpoint endpoint, CancellationToken cancellationToken = default) =>
        ListExportsAsync(endpoint, null, cancellationToken);

    /// <summary>The exports a server lists to this client, over TLS with <paramref name="tls"/> unless it is null.</summary>
    public static async Task<IReadOnlyList<ExportListing>> ListExportsAsync(NbdEndpoint endpoint, NbdClientTls? tls, CancellationToken cancellationToken = default)
    {
        await using var transport = await OpenTransportAsync(endpoint, cancellationToken);
        return await HandshakeAsync(endpoint, transport, tls, handshake => handshake.ListAsync(cancellationToken));
    }

    private static async Task<NbdClient> ConnectAsync(NbdEndpoint endpoint, string exportName, NbdClientTls? tls, CancellationToken cancellationToken)
    {
        var transport = await OpenTransportAsync(endpoint, cancellationToken);
        try
        {
            var (export, contextId) = await HandshakeAsync(endpoint, transport, tls, handshake => handshake.NegotiateAsync(exportName, cancellationToken));
            return new NbdClient(transport, export, contextId);
        }
        catch
        {
            await transport.DisposeAsync();
            throw;
        }
    }

    /// <summary>Run a handshake; a TLS failure becomes one <see cref="IOException"/> that says what to fix.</summary>
    private static async Task<T> HandshakeAsync<T>(NbdEndpoint endpoint, SocketDuplexPipe transport, NbdClientTls? tls, Func<NbdClientHandshake, Task<T>> run)
    {
        if (tls is null)
            return await run(new NbdClientHandshake(transport));
        var (options, check) = tls.AuthenticationOptions(endpoint);
        var handshake = new NbdClientHandshake(transport, options);
        try
        {
            return await run(handshake);
        }
        catch (AuthenticationException e)
        {
            throw new IOException($"TLS with NBD server {endpoint} failed: {check.Failure ?? e.Message}", e);
        }
        catch (IOException e) when (handshake.TlsStarted && e is not NbdOptionRefusedException)
        {
            // TLS 1.3 servers judge the client's certificate after the client thinks the handshake is done.
            throw new IOException($"NBD server {endpoint} ended the TLS session (does it require a client certificate it trusts? give --tls-cert and --tls-key): {e.Message}", e);
        }
    }

    /// <summary>Read a whole (small) export into memory, e.g. the hidden <c>manifest:NAME</c> export.</summary>
    public static async Task<byte[]> ReadExportAsync(NbdUri uri, long maxSize, CancellationToken cancellationToken = default)
    {
        await using var client = await ConnectAsync(uri, cancellationToken);
        if (client.Size > maxSize || client.Size > Array.MaxLength)
            throw new IOException($"{uri} is {client.Size} bytes, more than the {maxSize} expected");
        var bytes = new byte[client.Size];
        await client.ReadAsync(0, bytes, cancellationToken);
        return bytes;
    }

    /// <summary>Read <paramref name="buffer"/>.Length bytes; large reads are split into concurrent requests.</summary>
    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, buffer.Length);
        return ForEachPiece(offset, buffer.Length, Export.MaximumPayload, (at, length) =>
            RequestAsync(NbdCommand.Read, NbdCommandFlags.None, at, length, buffer.Slice((int)(at - offset), (int)length), default, cancellationToken));
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess = false, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, data.Length);
        var flags = FuaFlag(forceUnitAccess);
        return ForEachPiece(offset, data.Length, Export.MaximumPayload, (at, length) =>
            RequestAsync(NbdCommand.Write, flags, at, length, default, data.Slice((int)(at - offset), (int)length), cancellationToken));
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        Require(NbdTransmissionFlags.SendFlush, "FLUSH");
        await RequestAsync(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, default, default, cancellationToken);
    }

    public ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess = false, CancellationToken cancellationToken = default)
    {
        Require(NbdTransmissionFlags.SendWriteZeroes, "WRITE_ZEROES");
        CheckRange(offset, length);
        var flags = FuaFlag(forceUnitAccess);
        return ForEachPiece(offset, length, uint.MaxValue & ~(uint)(NbdProtocol.PreferredBlockSize - 1), (at, n) =>
            RequestAsync(NbdCommand.WriteZeroes, flags, at, n, default, default, cancellationToken));
    }

    /// <summary>
    /// <c>base:allocation</c> extents from <paramref name="offset"/>, covering at most <paramref name="length"/> bytes
    /// (servers may answer less; ask again from where the answer ends).
    /// </summary>
    public async Task<IReadOnlyList<AllocationExtent>> BlockStatusAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        if (_baseAllocationContextId == 0)
            throw new NotSupportedException($"{Export.Name}: the server did not negotiate base:allocation");
        CheckRange(offset, length);
        var pending = await RequestAsync(NbdCommand.BlockStatus, NbdCommandFlags.None, offset, (uint)Math.Min(length, uint.MaxValue),
            default, default, cancellationToken);
        return pending.Extents;
    }

    /// <summary>
    /// Send NBD_CMD_DISC, wait briefly for the server to close, and release the connection. Bounded: a send stuck
    /// on a server that stopped reading is cut short (it fails with an <see cref="IOException"/>), not waited for.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        var disconnect = Task.CompletedTask;
        // DISC only when no send is under way: one may be stuck for good, and the server learns of the close anyway.
        if (Volatile.Read(ref _failure) is null && _sendLock.Wait(0))
        {
            disconnect = SendTakenAsync(new NbdRequest(NbdCommandFlags.None, NbdCommand.Disconnect, 0, 0, 0), default);
            try
            {
                // The DISC itself may get stuck the same way, behind what the server left unread.
                using var grace = new CancellationTokenSource(DisconnectGrace);
                await disconnect.WaitAsync(grace.Token);
                await _replyLoop.WaitAsync(grace.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // Closing anyway.
            }
        }
        // Published before the abort, so the sends it cuts short and those still waiting for their turn say why.
        Close(new ObjectDisposedException(nameof(NbdClient), $"NBD client for '{Export.Name}' was disposed"));
        _transport.Abort();
        await _replyLoop;
        // Nothing may still be writing when the pipes are completed: the abort ends every send under way.
        await disconnect.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _sendLock.WaitAsync();
        _sendLock.Release();
        await _transport.DisposeAsync();
        // The send lock is left undisposed: disposing a SemaphoreSlim drops the requests waiting for it, and
        // they then wait for ever, deaf even to their cancellation (a stream agent stalled so, for minutes).
        // Left alone, each gets its turn, finds the connection closed and fails.
    }

    private static async Task<SocketDuplexPipe> OpenTransportAsync(NbdEndpoint endpoint, CancellationToken cancellationToken)
    {
        var socket = await endpoint.ConnectAsync(cancellationToken);
        return new SocketDuplexPipe(socket);
    }

    private static async ValueTask ForEachPiece(long offset, long length, uint pieceSize, Func<long, uint, Task<PendingRequest>> request)
    {
        if (length <= pieceSize)
        {
            await request(offset, (uint)length);
            return;
        }
        var pieces = new List<Task>();
        for (long at = offset; at < offset + length; at += pieceSize)
            pieces.Add(request(at, (uint)Math.Min(pieceSize, offset + length - at)));
        await Task.WhenAll(pieces);
    }

    private async Task<PendingRequest> RequestAsync(NbdCommand command, NbdCommandFlags flags, long offset, uint length,
        Memory<byte> readBuffer, ReadOnlyMemory<byte> writeData, CancellationToken cancellationToken)
    {
        var request = new NbdRequest(flags, command, (ulong)Interlocked.Increment(ref _lastCookie), (ulong)offset, length);
        var pending = new PendingRequest(request, readBuffer);
        _pending[request.Cookie] = pending;
        try
        {
            // The reply loop publishes its failure before failing what is pending, so one of the two sees this request.
            ThrowIfClosed();
            await SendAsync(request, writeData, cancellationToken);
        }
        catch
        {
            _pending.TryRemove(request.Cookie, out _);
            throw;
        }
        using (cancellationToken.Register(static (p, token) => ((PendingRequest)p!).Abandon(token), pending))
            await pending.Completion.ConfigureAwait(false);
        return pending;
    }

    private async Task SendAsync(NbdRequest request, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken);
        await SendTakenAsync(request, payload);
    }

    /// <summary>
    /// Write one whole request, the send lock taken (released here); once started it is never cancelled, or the
    /// stream would lose step. Only closing the connection ends it early.
    /// </summary>
    private async Task SendTakenAsync(NbdRequest request, ReadOnlyMemory<byte> payload)
    {
        try
        {
            // A request that waited for its turn behind another's send may find the connection closed meanwhile.
            ThrowIfClosed(started: true);
            try
            {
                var output = _transport.Output;
                NbdTransmissionCodec.WriteRequest(output.GetSpan(NbdTransmissionCodec.RequestSize), request);
                output.Advance(NbdTransmissionCodec.RequestSize);
                output.Write(payload.Span);
                await output.FlushAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException && Volatile.Read(ref _failure) is { } failure)
            {
                // The connection closed under this send: say why it closed, not how the write broke.
                throw Closed(failure);
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>
    /// Fail a call once the connection is closed: one made after disposal with <see cref="ObjectDisposedException"/>,
    /// one already <paramref name="started"/> (waiting for its turn or sending) with the connection's error.
    /// </summary>
    private void ThrowIfClosed(bool started = false)
    {
        if (Volatile.Read(ref _failure) is { } failure)
            throw failure is ObjectDisposedException && !started ? new ObjectDisposedException(nameof(NbdClient)) : Closed(failure);
    }

    private IOException Closed(Exception failure) => new($"NBD connection to '{Export.Name}' is closed", failure);

    /// <summary>Record why the connection closed; the first reason wins. Returns it.</summary>
    private Exception Close(Exception failure) => Interlocked.CompareExchange(ref _failure, failure, null) ?? failure;

    private async Task ReadRepliesAsync()
    {
        var input = _transport.Input;
        Exception failure;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                try
                {
                    while (TryHandleReply(ref buffer))
                    {
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
                if (result.IsCompleted)
                {
                    failure = new IOException($"NBD server closed the connection to '{Export.Name}'");
                    break;
                }
            }
        }
        catch (Exception e)
        {
            failure = e is IOException ? e : new IOException($"NBD connection to '{Export.Name}' failed: {e.Message}", e);
        }
        // Disposal closes first: what is pending then fails with an IOException that says so.
        failure = Close(failure);
        if (failure is not IOException)
            failure = Closed(failure);
        foreach (var cookie in _pending.Keys)
            if (_pending.TryRemove(cookie, out var pending))
                pending.Fail(failure);
    }

    /// <summary>Handle one simple reply or structured chunk if it is complete in <paramref name="buffer"/>.</summary>
    private bool TryHandleReply(ref ReadOnlySequence<byte> buffer)
    {
        if (!NbdTransmissionCodec.TryPeekReplyHeader(buffer, out var reply))
            return false;
        if (!_pending.TryGetValue(reply.Cookie, out var pending))
            throw new NbdProtocolException($"reply for unknown cookie {reply.Cookie}");
        if (reply.IsStructured && !Export.StructuredReplies)
            throw new NbdProtocolException("structured reply without negotiation");
        long payloadLength = reply.IsStructured ? reply.Length
            : pending.Request.Command == NbdCommand.Read && reply.Error == NbdError.None ? pending.Request.Length : 0;
        if (buffer.Length < reply.Size + payloadLength)
            return false;
        var payload = buffer.Slice(reply.Size, payloadLength);
        if (reply.IsStructured)
            HandleChunk(pending, reply, payload);
        else if (reply.Error != NbdError.None)
            pending.ReceiveError(reply.Error, "");
        else if (payloadLength > 0)
            pending.Receive(pending.Request.Offset, payload);
        buffer = buffer.Slice(payload.End);
        if ((reply.Flags & NbdReplyFlags.Done) != 0)
        {
            _pending.TryRemove(reply.Cookie, out _);
            pending.Complete();
        }
        return true;
    }

    private void HandleChunk(PendingRequest pending, in NbdReplyHeader chunk, in ReadOnlySequence<byte> payload)
    {
        var command = pending.Request.Command;
        switch (chunk.Type)
        {
            case NbdReplyType.None when payload.IsEmpty:
                return;
            case NbdReplyType.OffsetData when command == NbdCommand.Read:
                if (!NbdTransmissionCodec.TryParseOffsetData(payload, out ulong offset, out var data))
                    throw new NbdProtocolException("malformed OFFSET_DATA chunk");
                pending.Receive(offset, data);
                return;
            case NbdReplyType.OffsetHole when command == NbdCommand.Read:
                if (!NbdTransmissionCodec.TryParseOffsetHole(Small(payload, stackalloc byte[NbdTransmissionCodec.OffsetHoleSize]), out ulong holeOffset, out uint holeLength))
                    throw new NbdProtocolException("malformed OFFSET_HOLE chunk");
                pending.ReceiveHole(holeOffset, holeLength);
                return;
            case NbdReplyType.BlockStatus when command == NbdCommand.BlockStatus:
                var extents = new List<AllocationExtent>();
                if (!NbdTransmissionCodec.TryParseBlockStatus(payload.ToArray(), out uint contextId, extents))
                    throw new NbdProtocolException("malformed BLOCK_STATUS chunk");
                if (contextId == _baseAllocationContextId)
                    pending.Extents.AddRange(extents);
                return;
            case var type when type.IsError():
                if (!NbdTransmissionCodec.TryParseError(payload.ToArray(), out var error, out var message))
                    throw new NbdProtocolException($"malformed error chunk {type}");
                pending.ReceiveError(error, message);
                return;
            default:
                throw new NbdProtocolException($"unexpected {chunk.Type} chunk ({payload.Length} bytes) for {command}");
        }
    }

    /// <summary>A small payload as one span, or an empty span when it does not fit (which its parser rejects).</summary>
    private static ReadOnlySpan<byte> Small(in ReadOnlySequence<byte> payload, Span<byte> scratch)
    {
        if (payload.Length != scratch.Length)
            return default;
        payload.CopyTo(scratch);
        return scratch;
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || length > Export.Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} is outside the {Export.Size}-byte export '{Export.Name}'");
    }

    private void Require(NbdTransmissionFlags flag, string command)
    {
        if ((Export.Flags & flag) == 0)
            throw new NotSupportedException($"{Export.Name}: the server does not offer {command}");
    }

    private NbdCommandFlags FuaFlag(bool forceUnitAccess)
    {
        if (!forceUnitAccess)
            return NbdCommandFlags.None;
        Require(NbdTransmissionFlags.SendFua, "FUA");
        return NbdCommandFlags.Fua;
    }
}
