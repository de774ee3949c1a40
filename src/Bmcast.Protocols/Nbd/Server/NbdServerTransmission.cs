using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// The transmission phase of one connection. One loop parses every complete request in each read,
/// validates it, and dispatches it; requests run concurrently (a read may wait on a network fetch while
/// later ones are served) and reply in any order through <see cref="NbdReplySender"/>.
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
    private readonly NbdReplySender _replies;
    private readonly InflightRequests _inflight;
    private readonly ReplyBudget _budget;
    private readonly ILogger _logger;
    private readonly string _peer;
    private CancellationToken _cancellation;

    public NbdServerTransmission(NbdExportSession session, IDuplexPipe transport, NbdServerOptions options, ReplyBudget budget, ILogger logger, string peer)
    {
        _budget = budget;
        _session = session;
        _device = session.Device;
        _input = transport.Input;
        _replies = new NbdReplySender(transport.Output, session.StructuredReplies);
        _inflight = new InflightRequests(options.MaxInflightRequests);
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
                    while (!disconnect && NbdTransmissionCodec.TryReadRequest(ref buffer, out var request, out var payload))
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
                disconnect |= result.IsCompleted;
            }
        }
        finally
        {
            // DISC means "finish what is outstanding, then close"; on errors, waiting keeps handlers from writing to a closed pipe.
            await _inflight.DrainAsync();
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
            _ = RejectAsync(request, error);
            return;
        }
        long cost = ReplyBudget.Cost(request);
        try
        {
            await _budget.AcquireAsync(cost, cancellationToken);
        }
        catch
        {
            _inflight.Exit();
            throw;
        }
        RequestBuffer? data = null;
        if (request.Command == NbdCommand.Write)
        {
            data = RequestBuffer.Rent((int)request.Length);
            payload.CopyTo(data.Value.Memory.Span);
        }
        _ = ExecuteAsync(request, data, cost);
    }

    private async Task RejectAsync(NbdRequest request, NbdError error)
    {
        try
        {
            _logger.LogDebug("NBD {Peer}: rejected {Command} flags {Flags} offset {Offset} length {Length}: {Error}",
                _peer, request.Command, request.Flags, request.Offset, request.Length, NbdErrors.Name(error));
            ServerMetrics.RecordNbdError(_session.ExportName, request.Command, error);
            await _replies.SendErrorAsync(request.Cookie, error, $"invalid {request.Command} request");
        }
        catch (Exception e) when (IsConnectionGone(e))
        {
        }
        finally
        {
            _inflight.Exit();
        }
    }

    /// <summary>Never throws: failures become error replies, or are dropped when the connection is gone.</summary>
    private async Task ExecuteAsync(NbdRequest request, RequestBuffer? data, long cost)
    {
        try
        {
            switch (request.Command)
            {
                case NbdCommand.Read:
                    await ReadAsync(request);
                    break;
                case NbdCommand.Write:
                case NbdCommand.Flush:
                case NbdCommand.WriteZeroes:
                    await CompleteAsync(request, StartWithoutPayload(request, data));
                    break;
                case NbdCommand.BlockStatus:
                    await BlockStatusAsync(request);
                    break;
            }
        }
        catch (Exception e) when (IsConnectionGone(e))
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "NBD {Peer}: {Command} at {Offset}+{Length} was left unanswered", _peer, request.Command, request.Offset, request.Length);
        }
        finally
        {
            data?.Dispose();
            _budget.Release(cost);
            _inflight.Exit();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadAsync(NbdRequest request)
    {
        using var buffer = RequestBuffer.Rent((int)request.Length);
        var memory = buffer.Memory;
        try
        {
            await _device.ReadAsync((long)request.Offset, memory, _cancellation);
        }
        catch (Exception e) when (!IsShutdown(e))
        {
            await FailAsync(request, e);
            return;
        }
        await _replies.SendReadAsync(request.Cookie, request.Offset, memory);
        ServerMetrics.RecordNbdRead(_session.ExportName, memory.Length);
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

    /// <summary>Await a device call that answers with no payload, then reply success or the mapped error.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask CompleteAsync(NbdRequest request, ValueTask operation)
    {
        try
        {
            await operation;
        }
        catch (Exception e) when (!IsShutdown(e))
        {
            await FailAsync(request, e);
            return;
        }
        await _replies.SendDoneAsync(request.Cookie);
        if (request.Command is NbdCommand.Write or NbdCommand.WriteZeroes)
            ServerMetrics.RecordNbdWrite(_session.ExportName, request.Length);
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask BlockStatusAsync(NbdRequest request)
    {
        bool one = (request.Flags & NbdCommandFlags.ReqOne) != 0;
        var extents = ArrayPool<AllocationExtent>.Shared.Rent(one ? 1 : MaxExtentsPerReply);
        try
        {
            int count;
            try
            {
                count = DescribeAllocation(request, extents.AsSpan(0, one ? 1 : MaxExtentsPerReply));
            }
            catch (Exception e)
            {
                await FailAsync(request, e);
                return;
            }
            await _replies.SendBlockStatusAsync(request.Cookie, _session.BaseAllocationContextId, extents.AsMemory(0, count));
        }
        finally
        {
            ArrayPool<AllocationExtent>.Shared.Return(extents);
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

    private ValueTask FailAsync(NbdRequest request, Exception exception)
    {
        var error = NbdErrors.FromException(exception);
        ServerMetrics.RecordNbdError(_session.ExportName, request.Command, error);
        // A device's own error (a full or failing disk) is one line; anything else keeps its stack trace.
        _logger.LogWarning(exception is BlockDeviceException ? null : exception, "NBD {Peer}: {Command} at {Offset}+{Length} on '{Export}' failed ({Error}): {Message}",
            _peer, request.Command, request.Offset, request.Length, _session.ExportName, NbdErrors.Name(error), exception.Message);
        return _replies.SendErrorAsync(request.Cookie, error, $"{request.Command} failed: {exception.Message}");
    }

    private static bool IsFua(in NbdRequest request) => (request.Flags & NbdCommandFlags.Fua) != 0;

    private bool IsShutdown(Exception e) => e is OperationCanceledException && _cancellation.IsCancellationRequested;

    /// <summary>
    /// Failures of the reply path itself (device failures never get here): the connection is closing and the
    /// read loop will notice.
    /// </summary>
    private bool IsConnectionGone(Exception e) => e is IOException or ObjectDisposedException or InvalidOperationException || IsShutdown(e);

    public void Dispose()
    {
        _replies.Dispose();
        _inflight.Dispose();
    }
}
