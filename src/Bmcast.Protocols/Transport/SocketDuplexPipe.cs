using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace Bmcast.Protocols.Transport;

/// <summary>
/// A connected socket as a pair of pipes, in plaintext or (after <see cref="StartTlsAsync"/>) over TLS. Only moves
/// bytes: protocols see an <see cref="IDuplexPipe"/>, so tests can hand them in-memory pipes instead.
/// </summary>
internal sealed class SocketDuplexPipe : ITlsUpgradableTransport, IAsyncDisposable
{
    // Large enough that a 32 MiB payload arrives in few reads, small enough that idle connections stay cheap:
    // the stream reader rents buffers only while data is arriving.
    private const int ReadBufferSize = 256 << 10;
    private const int WriteBufferSize = 64 << 10;

    private readonly Socket _socket;

    /// <summary>The socket's stream, or the TLS stream over it (which then owns it).</summary>
    private Stream _stream;

    private volatile bool _aborted;

    public SocketDuplexPipe(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        (Input, Output) = CreatePipes(_stream);
    }

    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

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
