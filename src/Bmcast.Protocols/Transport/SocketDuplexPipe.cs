using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Transport;

/// <summary>
/// A connected socket as a pair of pipes, in plaintext or (after <see cref="StartTlsAsync"/>) over TLS. Only moves
/// bytes: protocols see an <see cref="IDuplexPipe"/>, so tests can hand them in-memory pipes instead.
/// </summary>
internal sealed class SocketDuplexPipe : ITlsUpgradableTransport, IFileSendingTransport, IAsyncDisposable
{
    // Large enough that a 32 MiB payload arrives in few reads, small enough that idle connections stay cheap:
    // the stream reader rents buffers only while data is arriving.
    private const int ReadBufferSize = 256 << 10;
    private const int WriteBufferSize = 64 << 10;

    private readonly Socket _socket;

    /// <summary>The socket's stream, or the TLS stream over it (which then owns it).</summary>
    private Stream _stream;

    private volatile bool _aborted;

    /// <summary>The kernel cannot send files to this socket (or from the files tried): every byte goes through the pipe.</summary>
    private bool _sendFileRefused;

    public SocketDuplexPipe(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        (Input, Output) = CreatePipes(_stream);
    }

    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

    public bool CanSendFiles => !_sendFileRefused && _stream is not SslStream;

    public int SendFileNow(in FilePosition position, int count)
    {
        var socket = _socket.SafeHandle;
        bool held = false;
        try
        {
            // Held so that an abort meanwhile cannot close the descriptor and have it reused under the call.
            socket.DangerousAddRef(ref held);
            long offset = position.Offset;
            int sent = 0;
            while (sent < count)
            {
                nint n = SendFile.Send((int)socket.DangerousGetHandle(), (int)position.File.DangerousGetHandle(), ref offset, (nuint)(count - sent));
                if (n > 0)
                {
                    sent += (int)n;
                    continue;
                }
                if (n == 0)
                    break; // the file ends early: the caller's read of the rest says so
                int errno = Marshal.GetLastPInvokeError();
                if (errno == SendFile.EINTR)
                    continue;
                if (errno == SendFile.EAGAIN)
                    break;
                if (errno is SendFile.EINVAL or SendFile.ENOSYS)
                {
                    _sendFileRefused = true;
                    break;
                }
                throw new IOException($"sendfile: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
            return sent;
        }
        finally
        {
            if (held)
                socket.DangerousRelease();
        }
    }

    public async Task<SslStream> StartTlsAsync(Func<SslStream, CancellationToken, Task> authenticate, CancellationToken cancellationToken)
    {
        if (_stream is SslStream)
            throw new InvalidOperationException("TLS is already on");
        if (Input.TryRead(out var buffered))
        {
            Input.AdvanceTo(buffered.Buffer.Start);
            if (!buffered.Buffer.IsEmpty)
                throw new IOException("the peer sent plaintext after asking for TLS");
        }
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        await Input.CompleteAsync().ConfigureAwait(false);
        await Output.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = tls;
        (Input, Output) = CreatePipes(tls);
        await authenticate(tls, cancellationToken).ConfigureAwait(false);
        return tls;
    }

    /// <summary>
    /// Close the socket now, without flushing: a send stuck on a peer that stopped reading, and a pending receive,
    /// fail at once instead of waiting on the peer. <see cref="DisposeAsync"/> must still follow.
    /// </summary>
    public void Abort()
    {
        _aborted = true;
        _socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await Input.CompleteAsync().ConfigureAwait(false);
        try
        {
            // Completing without an error flushes what is buffered: pointless, and failing, once aborted.
            await Output.CompleteAsync(_aborted ? new IOException("connection aborted") : null).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // Completing flushes what is buffered; the peer may already be gone.
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) => (
        PipeReader.Create(stream, new StreamPipeReaderOptions(ConnectionMemoryPool.Instance, ReadBufferSize, minimumReadSize: 16 << 10, leaveOpen: true)),
        PipeWriter.Create(stream, new StreamPipeWriterOptions(ConnectionMemoryPool.Instance, WriteBufferSize, leaveOpen: true)));
}
