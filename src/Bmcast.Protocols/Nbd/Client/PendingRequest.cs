using System.Buffers;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// A request waiting for its reply. The reader loop fills it chunk by chunk and completes it once; a caller
/// that gives up (cancellation) abandons it, after which late data is discarded instead of written into
/// a buffer the caller may already reuse.
/// </summary>
internal sealed class PendingRequest(NbdRequest request, Memory<byte> readBuffer)
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _bufferGate = new();
    private bool _abandoned;
    private long _bytesReceived;
    private NbdError _error;
    private string _errorMessage = "";

    public NbdRequest Request { get; } = request;

    private List<AllocationExtent>? _extents;

    /// <summary>BLOCK_STATUS results (created on first use: most requests are reads).</summary>
    public List<AllocationExtent> Extents => _extents ??= [];

    public Task Completion => _completion.Task;

    /// <summary>Copy read data (simple reply or OFFSET_DATA) at <paramref name="offset"/> into the caller's buffer.</summary>
    public void Receive(ulong offset, in ReadOnlySequence<byte> data)
    {
        var target = Target(offset, data.Length);
        lock (_bufferGate)
        {
            if (!_abandoned)
                data.CopyTo(readBuffer.Span.Slice(target.Start, target.Length));
        }
        _bytesReceived += data.Length;
    }

    /// <summary>An OFFSET_HOLE chunk: the range reads as zeroes.</summary>
    public void ReceiveHole(ulong offset, uint length)
    {
        var target = Target(offset, length);
        lock (_bufferGate)
        {
            if (!_abandoned)
                readBuffer.Span.Slice(target.Start, target.Length).Clear();
        }
        _bytesReceived += length;
    }

    public void ReceiveError(NbdError error, string message)
    {
        if (_error == NbdError.None)
            (_error, _errorMessage) = (error, message);
    }

    /// <summary>The final chunk arrived: succeed, or fail with the server's error.</summary>
    public void Complete()
    {
        if (_error != NbdError.None)
            Fail(NbdErrors.ToException(_error, Describe(), _errorMessage));
        else if (Request.Command == NbdCommand.Read && _bytesReceived != Request.Length)
            Fail(new IOException($"{Describe()}: server sent {_bytesReceived} of {Request.Length} bytes"));
        else if (Request.Command == NbdCommand.BlockStatus && Extents.Count == 0)
            Fail(new IOException($"{Describe()}: server sent no extents"));
        else
            _completion.TrySetResult();
    }

    public void Fail(Exception exception) => _completion.TrySetException(exception);

    public void Abandon(CancellationToken cancellationToken)
    {
        lock (_bufferGate)
            _abandoned = true;
        _completion.TrySetCanceled(cancellationToken);
    }

    private string Describe() => $"NBD {Request.Command} at {Request.Offset}+{Request.Length}";

    private (int Start, int Length) Target(ulong offset, long length)
    {
        if (offset < Request.Offset || (ulong)length > Request.Length || offset - Request.Offset > Request.Length - (ulong)length)
            throw new NbdProtocolException($"{Describe()}: server sent data for {offset}+{length}, outside the request");
        return ((int)(offset - Request.Offset), (int)length);
    }
}
