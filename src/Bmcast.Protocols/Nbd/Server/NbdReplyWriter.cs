using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Transport;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// The one writer of a connection's replies. Requests queue their replies from any thread without waiting
/// (<see cref="Queue"/>); one loop takes every reply that is ready, writes them all into the output pipe, flushes once,
/// and only then gives back what they held (their bytes in the <see cref="ReplyBudget"/>, their in-flight slots):
/// their bytes are on the socket. A read of bytes the device holds locally is done here, straight into the pipe's
/// memory (<see cref="IBlockDevice.TryRead"/>): no buffer of its own, no copy. A read that would wait (a miss on the
/// streaming disk) is handed back to be read into a buffer of its own and queued again with its data.
/// </summary>
/// <remarks>
/// The memory bound: a client that stops reading stalls this loop in its flush; replies then wait in the queue still
/// holding their budget, so the read loop stops taking requests once the connection's budget is spent, and what is
/// buffered here is at most that budget plus one flush's worth.
/// </remarks>
internal sealed class NbdReplyWriter
{
    /// <summary>The largest read done straight into the pipe: the pipe rents its memory from a pool that would keep larger arrays.</summary>
    public const int MaxReadAtOnce = 1 << 20;

    /// <summary>A batch flushes once this much is buffered, so its first replies go out while the rest are written.</summary>
    private const int FlushThreshold = 1 << 20;

    /// <summary>
    /// The smallest read the kernel sends from its file: smaller ones cost less batched through the pipe (one send for
    /// many replies) than a flush and a <c>sendfile</c> each.
    /// </summary>
    private const int MinSentFromFile = 64 << 10;

    private const int ReadHeaderSize = NbdTransmissionCodec.ChunkHeaderSize + NbdTransmissionCodec.OffsetDataPrefixSize;

    private readonly ReplyQueue _ready = new();
    private readonly PipeWriter _output;
    private readonly IFileSendingTransport? _files;
    private readonly bool _structured;
    private readonly IBlockDevice _device;
    private readonly ReplyBudget _budget;
    private readonly InflightRequests _inflight;
    private readonly RequestFailures _failures;
    private readonly Action<NbdRequest, long> _readLater;
    private readonly ILogger _logger;
    private readonly string _export;
    private readonly Task _loop;

    /// <summary>The connection is gone (or a reply could not be written whole): replies are only given back.</summary>
    private bool _broken;
    private int _unflushed;
    private long _heldBytes;
    private int _heldReplies;
    private long _readBytes;

    /// <param name="readLater">Reads a request the device could not read at once, then queues its <see cref="NbdReply.ReadData"/>.</param>
    /// <param name="files">The transport, when it may send files itself: while it can (plaintext sockets, until the kernel refuses), read hits that lie in a file go out by <c>sendfile</c>.</param>
    public NbdReplyWriter(PipeWriter output, IFileSendingTransport? files, NbdExportSession session, ReplyBudget budget, InflightRequests inflight,
        RequestFailures failures, Action<NbdRequest, long> readLater, ILogger logger)
    {
        _output = output;
        _files = files;
        _structured = session.StructuredReplies;
        _device = session.Device;
        _export = session.ExportName;
        _budget = budget;
        _inflight = inflight;
        _failures = failures;
        _readLater = readLater;
        _logger = logger;
        _loop = RunAsync();
    }

    /// <summary>
    /// No reply can be sent any more (the connection is gone, or a reply could not be written whole): requests not
    /// yet run need not be, their replies would only be given back.
    /// </summary>
    public bool IsBroken => Volatile.Read(ref _broken);

    /// <summary>Hand over a request's one reply. Never waits.</summary>
    public void Queue(in NbdReply reply)
    {
        if (!_ready.TryAdd(reply))
        {
            // Only after Complete, when nothing is in flight: give back at once.
            reply.ReturnBuffers();
            _budget.Release(reply.Cost);
            _inflight.Exit(1);
        }
    }

    /// <summary>No more replies will come (every request has been answered): write what is left and stop.</summary>
    public Task CompleteAsync()
    {
        _ready.Complete();
        return _loop;
    }

    private async Task RunAsync()
    {
        var batch = new List<NbdReply>();
        while (await _ready.WaitAsync().ConfigureAwait(false))
        {
            batch = _ready.TakeAll(batch);
            foreach (var reply in batch)
            {
                bool answered = true;
                try
                {
                    if (_broken)
                    {
                    }
                    else if (reply.Kind == NbdReplyKind.Data && reply.Data.Memory.Length > FlushThreshold)
                        await SendLargeAsync(reply).ConfigureAwait(false);
                    else if (reply.Kind == NbdReplyKind.ReadAtOnce && TryLocateInFile(reply.Request, out var position))
                        answered = await SendFromFileAsync(reply, position).ConfigureAwait(false);
                    else
                        answered = Write(reply);
                }
                catch (Exception e)
                {
                    Break(e);
                }
                finally
                {
                    if (answered)
                    {
                        reply.ReturnBuffers();
                        _heldBytes += reply.Cost;
                        _heldReplies++;
                    }
                }
                if (_unflushed >= FlushThreshold)
                    await FlushAsync().ConfigureAwait(false);
            }
            await FlushAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Write one reply into the pipe; false when it was a read handed back to be done later (it holds on).</summary>
    private bool Write(in NbdReply reply)
    {
        var request = reply.Request;
        switch (reply.Kind)
        {
            case NbdReplyKind.Done:
                WriteSimpleReply(NbdError.None, request.Cookie);
                break;
            case NbdReplyKind.Error:
                WriteError(request.Cookie, reply.Error, reply.Message!);
                break;
            case NbdReplyKind.ReadAtOnce:
                return TryReadIntoPipe(reply);
            case NbdReplyKind.Data:
                var data = reply.Data.Memory.Span;
                WriteReadHeader(_output.GetSpan(ReadHeaderSize), request, data.Length);
                _output.Write(data);
                _unflushed += data.Length;
                _readBytes += data.Length;
                break;
            case NbdReplyKind.BlockStatus:
                int length = NbdTransmissionCodec.BlockStatusLength(reply.ExtentCount);
                WriteChunkHeader(NbdReplyType.BlockStatus, request.Cookie, length);
                NbdTransmissionCodec.WriteBlockStatus(_output.GetSpan(length), reply.ContextId, reply.Extents.AsSpan(0, reply.ExtentCount));
                Advance(length);
                break;
        }
        return true;
    }

    /// <summary>
    /// The read hit: header and data into one span of the pipe, the data read by the device straight into it. The
    /// header is written only once the read succeeded, so a failure leaves nothing behind but its error reply.
    /// </summary>
    private bool TryReadIntoPipe(in NbdReply reply)
    {
        var request = reply.Request;
        int length = (int)request.Length;
        int header = HeaderSize;
        var span = _output.GetSpan(header + length);
        try
        {
            if (!_device.TryRead((long)request.Offset, span.Slice(header, length)))
            {
                _readLater(request, reply.Cost);
                return false;
            }
        }
        catch (Exception e)
        {
            var failure = _failures.Reply(request, reply.Cost, e);
            WriteError(request.Cookie, failure.Error, failure.Message!);
            return true;
        }
        WriteReadHeader(span, request, length);
        _output.Advance(length);
        _unflushed += length;
        _readBytes += length;
        return true;
    }

    private bool TryLocateInFile(in NbdRequest request, out FilePosition position)
    {
        position = default;
        return _files is { CanSendFiles: true } && request.Length >= MinSentFromFile
            && _device.TryLocateInFile((long)request.Offset, (int)request.Length, out position);
    }

    /// <summary>
    /// A read hit whose bytes lie in a file: its header goes out with what is buffered, then the kernel sends the bytes
    /// from the page cache, with no copy into the pipe (nor, on a unix socket, into the socket's buffers). What the
    /// socket has no room for now is read from the same file into the pipe, so a client that stops reading stalls this
    /// loop in its flush as before, and the kernel holds no more for it than its socket buffer. False when the file
    /// was closed meanwhile (a pack replaced by garbage collection) and the device could not read at once either.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> SendFromFileAsync(NbdReply reply, FilePosition position)
    {
        bool held = false;
        try
        {
            position.File.DangerousAddRef(ref held);
        }
        catch (ObjectDisposedException)
        {
            return Write(reply);
        }
        try
        {
            var request = reply.Request;
            int length = (int)request.Length;
            WriteReadHeader(_output.GetSpan(HeaderSize), request, length);
            await FlushAsync().ConfigureAwait(false);
            if (_broken)
                return true;
            int sent = _files!.SendFileNow(position, length);
            if (sent < length)
            {
                int rest = length - sent;
                ReadExactly(position with { Offset = position.Offset + sent }, _output.GetSpan(rest)[..rest]);
                Advance(rest);
            }
            _readBytes += length;
            return true;
        }
        finally
        {
            position.File.DangerousRelease();
        }
    }

    /// <summary>The rest of a reply whose header is out: a short file cannot be answered in step any more.</summary>
    private static void ReadExactly(in FilePosition position, Span<byte> destination)
    {
        for (long offset = position.Offset; !destination.IsEmpty;)
        {
            int n = RandomAccess.Read(position.File, destination, offset);
            if (n == 0)
                throw new IOException("the file ended before the read's bytes");
            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>A large read's own buffer goes to the socket as it is (no copy into the pipe), after what is buffered.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendLargeAsync(NbdReply reply)
    {
        var data = reply.Data.Memory;
        WriteReadHeader(_output.GetSpan(ReadHeaderSize), reply.Request, data.Length);
        var result = await _output.WriteAsync(data).ConfigureAwait(false);
        _broken |= result.IsCompleted;
        _unflushed = 0;
        _readBytes += data.Length;
    }

    private int HeaderSize => _structured ? ReadHeaderSize : NbdTransmissionCodec.SimpleReplySize;

    /// <summary>A read's header: one OFFSET_DATA chunk (so DF is always honoured), a NONE chunk when empty, or a simple reply.</summary>
    private void WriteReadHeader(Span<byte> destination, in NbdRequest request, int length)
    {
        if (!_structured)
        {
            NbdTransmissionCodec.WriteSimpleReply(destination, NbdError.None, request.Cookie);
            Advance(NbdTransmissionCodec.SimpleReplySize);
        }
        else if (length == 0)
            WriteChunkHeader(NbdReplyType.None, request.Cookie, 0);
        else
        {
            NbdTransmissionCodec.WriteOffsetDataHeader(destination, NbdReplyFlags.Done, request.Cookie, request.Offset, length);
            Advance(ReadHeaderSize);
        }
    }

    /// <summary>An error, with a message for humans when structured replies allow one.</summary>
    private void WriteError(ulong cookie, NbdError error, string message)
    {
        if (!_structured)
        {
            WriteSimpleReply(error, cookie);
            return;
        }
        message = NbdStrings.Truncate(message);
        int length = NbdTransmissionCodec.ErrorPayloadLength(message);
        WriteChunkHeader(NbdReplyType.Error, cookie, length);
        NbdTransmissionCodec.WriteErrorPayload(_output.GetSpan(length), error, message);
        Advance(length);
    }

    private void WriteSimpleReply(NbdError error, ulong cookie)
    {
        NbdTransmissionCodec.WriteSimpleReply(_output.GetSpan(NbdTransmissionCodec.SimpleReplySize), error, cookie);
        Advance(NbdTransmissionCodec.SimpleReplySize);
    }

    private void WriteChunkHeader(NbdReplyType type, ulong cookie, int length)
    {
        NbdTransmissionCodec.WriteChunkHeader(_output.GetSpan(NbdTransmissionCodec.ChunkHeaderSize), NbdReplyFlags.Done, type, cookie, length);
        Advance(NbdTransmissionCodec.ChunkHeaderSize);
    }

    private void Advance(int bytes)
    {
        _output.Advance(bytes);
        _unflushed += bytes;
    }

    /// <summary>Send what is buffered, then give back what its replies held: their bytes are on the socket.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushAsync()
    {
        if (!_broken && _unflushed > 0)
        {
            try
            {
                _broken = (await _output.FlushAsync().ConfigureAwait(false)).IsCompleted;
            }
            catch (Exception e)
            {
                Break(e);
            }
        }
        _unflushed = 0;
        if (_readBytes > 0)
            ServerMetrics.RecordNbdRead(_export, _readBytes);
        _budget.Release(_heldBytes);
        _inflight.Exit(_heldReplies);
        _readBytes = _heldBytes = _heldReplies = 0;
    }

    /// <summary>
    /// The connection is closing (the read loop will notice), or a reply could not be written whole: either way no
    /// further reply can be sent in step, so the rest are only given back.
    /// </summary>
    private void Break(Exception e)
    {
        if (e is not (IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException))
            _logger.LogError(e, "NBD '{Export}': a reply could not be written; the connection's replies stop", _export);
        _broken = true;
    }
}
