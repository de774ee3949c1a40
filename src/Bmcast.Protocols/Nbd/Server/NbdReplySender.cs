using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Writes replies for requests that complete concurrently and in any order: each reply is written whole under
/// one lock so chunks never interleave mid-message.
/// </summary>
/// <remarks>Methods pool their state machines: a reply that waits for the socket costs no allocation.</remarks>
internal sealed class NbdReplySender(PipeWriter output, bool structuredReplies) : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>Success without payload: a simple reply is allowed for every command but READ.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendDoneAsync(ulong cookie)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            NbdTransmissionCodec.WriteSimpleReply(output.GetSpan(NbdTransmissionCodec.SimpleReplySize), NbdError.None, cookie);
            output.Advance(NbdTransmissionCodec.SimpleReplySize);
            await output.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Read data as one OFFSET_DATA chunk (so DF is always honoured) or a simple reply.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendReadAsync(ulong cookie, ulong offset, ReadOnlyMemory<byte> data)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!structuredReplies)
            {
                NbdTransmissionCodec.WriteSimpleReply(output.GetSpan(NbdTransmissionCodec.SimpleReplySize), NbdError.None, cookie);
                output.Advance(NbdTransmissionCodec.SimpleReplySize);
            }
            else if (data.IsEmpty)
                WriteChunkHeader(NbdReplyType.None, cookie, 0);
            else
            {
                const int size = NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.OffsetDataPrefixSize;
                NbdTransmissionCodec.WriteOffsetDataHeader(output.GetSpan(size), NbdReplyFlags.Done, cookie, offset, data.Length);
                output.Advance(size);
            }
            await output.WriteAsync(data).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendBlockStatusAsync(ulong cookie, uint contextId, ReadOnlyMemory<AllocationExtent> extents)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            int length = NbdTransmissionCodec.BlockStatusLength(extents.Length);
            WriteChunkHeader(NbdReplyType.BlockStatus, cookie, length);
            NbdTransmissionCodec.WriteBlockStatus(output.GetSpan(length), contextId, extents.Span);
            output.Advance(length);
            await output.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>An error, with a message for humans when structured replies allow one.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendErrorAsync(ulong cookie, NbdError error, string message)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (structuredReplies)
            {
                message = NbdStrings.Truncate(message);
                int length = NbdTransmissionCodec.ErrorPayloadLength(message);
                WriteChunkHeader(NbdReplyType.Error, cookie, length);
                NbdTransmissionCodec.WriteErrorPayload(output.GetSpan(length), error, message);
                output.Advance(length);
            }
            else
            {
                NbdTransmissionCodec.WriteSimpleReply(output.GetSpan(NbdTransmissionCodec.SimpleReplySize), error, cookie);
                output.Advance(NbdTransmissionCodec.SimpleReplySize);
            }
            await output.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private void WriteChunkHeader(NbdReplyType type, ulong cookie, int length)
    {
        NbdTransmissionCodec.WriteChunkHeader(output.GetSpan(NbdTransmissionCodec.ChunkHeaderSize), NbdReplyFlags.Done, type, cookie, length);
        output.Advance(NbdTransmissionCodec.ChunkHeaderSize);
    }

    public void Dispose() => _lock.Dispose();
}
