using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Transport;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// The transmission phase of one connection. One loop parses every complete request in each read, validates it,
/// and dispatches it; requests run concurrently (a read may wait on a network fetch while later ones are served) and
/// each queues its one reply, in any order, to the connection's <see cref="NbdReplyWriter"/>. Reads of up to
/// <see cref="NbdReplyWriter.MaxReadAtOnce"/> go to the writer as they are, which reads them straight into its
/// output when the device has the bytes at hand; FLUSH and FUA writes run on the thread pool, so their
/// <c>fdatasync</c> never holds up the parse loop.
/// </summary>
internal sealed class NbdServerTransmission : IDisposable
{
    /// <summary>Most extents in one BLOCK_STATUS reply: far below the spec's 2^20, enough to map a sparse image quickly.</summary>
    private const int MaxExtentsPerReply = 4096;
    private const int ZeroBufferSize = 1 << 20;
    private static readonly ReadOnlyMemory<byte> Zeroes = new byte[ZeroBufferSize];

    private readonly NbdExportSession _session;
    private readonly IBlockDevice _device;
    private readonly PipeReader _input;
    private readonly NbdReplyWriter _replies;
    private readonly InflightRequests _inflight;
    private readonly ReplyBudget _budget;
    private readonly RequestFailures _failures;
    private readonly ILogger _logger;
    private readonly string _peer;
    private CancellationToken _cancellation;

    public NbdServerTransmission(NbdExportSession session, IDuplexPipe transport, NbdServerOptions options, ReplyBudget budget, ILogger logger, string peer)
    {
        _budget = budget;
        _session = session;
        _device = session.Device;
        _input = transport.Input;
        _inflight = new InflightRequests(options.MaxInflightRequests);
        _failures = new RequestFailures(logger, peer, session.ExportName);
        _replies = new NbdReplyWriter(transport.Output, transport as IFileSendingTransport, session, budget, _inflight, _failures, ReadLater, logger);
        _logger = logger;
        _peer = peer;
    }

    /// <summary>Serve requests until NBD_CMD_DISC, end of input, or a malformed request (which throws).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _cancellation = cancellationToken;
        try
        {
            bool disconnect = false;
            while (!disconnect)
            {
                var result = await _input.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                try
                {
                    // Once no reply can be sent, the requests still buffered here are dropped, not run: a client that
                    // queued 64 reads of 32 MiB and hung up had the server read 2 GiB for nothing, holding up to its
                    // budget in buffers, for tens of seconds after it left.
                    while (!disconnect && !_replies.IsBroken && NbdTransmissionCodec.TryReadRequest(ref buffer, out var request, out var payload))
                    {
                        if (request.Command == NbdCommand.Disconnect)
                            disconnect = true;
                        else
                        {
                            await _inflight.EnterAsync(cancellationToken);
                            await DispatchAsync(request, payload, cancellationToken);
                        }
                    }
                }
                finally
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                }
                disconnect |= result.IsCompleted || _replies.IsBroken;
            }
        }
        finally
        {
            // DISC means "finish what is outstanding, then close"; on errors, waiting keeps handlers from writing to a closed pipe.
            await _inflight.DrainAsync();
            await _replies.CompleteAsync();
        }
    }

    /// <summary>
    /// Start one request once its data fits the connection's <see cref="ReplyBudget"/> (a client that does not read
    /// its replies waits here, and its unread requests stay in the socket). Runs synchronously as far as the device
    /// allows; the payload is copied before the pipe moves on.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask DispatchAsync(NbdRequest request, ReadOnlySequence<byte> payload, CancellationToken cancellationToken)
    {
        ServerMetrics.RecordNbdRequest(_session.ExportName, request.Command);
        var error = NbdRequestValidator.Validate(request, _session);
        if (error != NbdError.None)
        {
            Reject(request, error);
            return;
        }
        long cost = ReplyBudget.Cost(request);
        try
        {
            await _budget.AcquireAsync(cost, cancellationToken);
        }
        catch
        {
            _inflight.Exit(1);
            throw;
        }
        if (_replies.IsBroken)
        {
            _replies.Queue(NbdReply.Nothing(request, cost)); // the connection broke while this request waited for its bytes
            return;
        }
        switch (request.Command)
        {
            case NbdCommand.Read when request.Length is > 0 and <= NbdReplyWriter.MaxReadAtOnce:
                _replies.Queue(NbdReply.ReadAtOnce(request, cost));
                break;
            case NbdCommand.Read:
                ReadLater(request, cost);
                break;
            case NbdCommand.BlockStatus:
                _replies.Queue(BlockStatus(request));
                break;
            case NbdCommand.Flush:
                CompleteOffLoop(request, null, cost);
                break;
            default:
                RequestBuffer? data = null;
                if (request.Command == NbdCommand.Write)
                {
                    data = RequestBuffer.Rent((int)request.Length);
                    payload.CopyTo(data.Value.Memory.Span);
                }
                if (IsFua(request))
                    CompleteOffLoop(request, data, cost);
                else
                    _ = CompleteAsync(request, data, cost);
                break;
        }
    }

    private void Reject(in NbdRequest request, NbdError error)
    {
        _logger.LogDebug("NBD {Peer}: rejected {Command} flags {Flags} offset {Offset} length {Length}: {Error}",
            _peer, request.Command, request.Flags, request.Offset, request.Length, NbdErrors.Name(error));
        ServerMetrics.RecordNbdError(_session.ExportName, request.Command, error);
        _replies.Queue(NbdReply.Failed(request, 0, error, $"invalid {request.Command} request"));
    }

    /// <summary>A read the device may have to wait for: into a buffer of its own, then queued with its data. Never throws.</summary>
    private void ReadLater(NbdRequest request, long cost) => _ = ReadIntoBufferAsync(request, cost);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadIntoBufferAsync(NbdRequest request, long cost)
    {
        if (_replies.IsBroken)
        {
            _replies.Queue(NbdReply.Nothing(request, cost));
            return;
        }
        var buffer = RequestBuffer.Rent((int)request.Length);
        try
        {
            await _device.ReadAsync((long)request.Offset, buffer.Memory, _cancellation);
        }
        catch (Exception e)
        {
            buffer.Dispose();
            _replies.Queue(IsShutdown(e) ? NbdReply.Nothing(request, cost) : _failures.Reply(request, cost, e));
            return;
        }
        _replies.Queue(NbdReply.ReadData(request, cost, buffer));
    }

    /// <summary>
    /// A request that waits for the disk (FLUSH, FUA: <c>fdatasync</c>) runs on the thread pool, so the parse loop
    /// goes on. Its own method: a lambda in the dispatcher would allocate its closure on every request.
    /// </summary>
    private void CompleteOffLoop(NbdRequest request, RequestBuffer? data, long cost) =>
        _ = Task.Run(() => CompleteAsync(request, data, cost), CancellationToken.None);

    /// <summary>Run a request whose reply has no payload and queue its reply: success or the mapped error. Never throws.</summary>
    private async Task CompleteAsync(NbdRequest request, RequestBuffer? data, long cost)
    {
        NbdReply reply;
        try
        {
            await StartWithoutPayload(request, data);
            reply = NbdReply.Done(request, cost);
            if (request.Command is NbdCommand.Write or NbdCommand.WriteZeroes)
                ServerMetrics.RecordNbdWrite(_session.ExportName, request.Length);
        }
        catch (Exception e)
        {
            reply = IsShutdown(e) ? NbdReply.Nothing(request, cost) : _failures.Reply(request, cost, e);
        }
        finally
        {
            data?.Dispose();
        }
        _replies.Queue(reply);
    }

    /// <summary>
    /// Start the device call of a request whose reply has no payload. A device that throws instead of returning a
    /// faulted task is answered the same way, with an error reply.
    /// </summary>
    private ValueTask StartWithoutPayload(in NbdRequest request, RequestBuffer? data)
    {
        try
        {
            return request.Command switch
            {
                _ when request.Length == 0 && request.Command != NbdCommand.Flush => ValueTask.CompletedTask,
                NbdCommand.Write => _device.WriteAsync((long)request.Offset, data!.Value.Memory, IsFua(request), _cancellation),
                NbdCommand.WriteZeroes => WriteZeroesAsync(request),
                _ => _device.FlushAsync(_cancellation),
            };
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>NO_HOLE asks for allocated zeroes; the device's own zeroing may punch holes, so write real zeroes instead.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteZeroesAsync(NbdRequest request)
    {
        bool fua = IsFua(request);
        if ((request.Flags & NbdCommandFlags.NoHole) == 0)
        {
            await _device.WriteZeroesAsync((long)request.Offset, request.Length, fua, _cancellation);
            return;
        }
        long end = (long)request.Offset + request.Length;
        for (long at = (long)request.Offset; at < end; at += ZeroBufferSize)
            await _device.WriteAsync(at, Zeroes[..(int)Math.Min(ZeroBufferSize, end - at)], fua, _cancellation);
    }

    private NbdReply BlockStatus(in NbdRequest request)
    {
        bool one = (request.Flags & NbdCommandFlags.ReqOne) != 0;
        var extents = ArrayPool<AllocationExtent>.Shared.Rent(one ? 1 : MaxExtentsPerReply);
        try
        {
            int count = DescribeAllocation(request, extents.AsSpan(0, one ? 1 : MaxExtentsPerReply));
            return NbdReply.BlockStatus(request, _session.BaseAllocationContextId, extents, count);
        }
        catch (Exception e)
        {
            ArrayPool<AllocationExtent>.Shared.Return(extents);
            return _failures.Reply(request, 0, e);
        }
    }

    /// <summary>Ask the device and check its answer: the wire needs nonzero extents that stay within the request.</summary>
    private int DescribeAllocation(in NbdRequest request, Span<AllocationExtent> extents)
    {
        int count = _device.DescribeAllocation((long)request.Offset, request.Length, extents);
        long total = 0;
        for (int i = 0; i < count; i++)
            total += extents[i].Length > 0 ? extents[i].Length : long.MinValue;
        if (count < 1 || count > extents.Length || total <= 0 || total > request.Length)
            throw new IOException($"{_session.ExportName}: device described allocation at {request.Offset}+{request.Length} with invalid extents");
        return count;
    }

    private static bool IsFua(in NbdRequest request) => (request.Flags & NbdCommandFlags.Fua) != 0;

    private bool IsShutdown(Exception e) => e is OperationCanceledException && _cancellation.IsCancellationRequested;

    public void Dispose() => _inflight.Dispose();
}
