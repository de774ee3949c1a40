using System.IO.Pipelines;
using System.Net.Sockets;

namespace Bmcast.Protocols.Transport;

/// <summary>
/// A connected socket as a pair of pipes. Only moves bytes: protocols see an <see cref="IDuplexPipe"/>, so tests
/// can hand them in-memory pipes instead.
/// </summary>
internal sealed class SocketDuplexPipe : IDuplexPipe, IAsyncDisposable
{
    // Large enough that a 32 MiB payload arrives in few reads, small enough that idle connections stay cheap:
    // the stream reader rents buffers only while data is arriving.
    private const int ReadBufferSize = 256 << 10;
    private const int WriteBufferSize = 64 << 10;

    private readonly NetworkStream _stream;

    public SocketDuplexPipe(Socket socket)
    {
        _stream = new NetworkStream(socket, ownsSocket: true);
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, minimumReadSize: 16 << 10, leaveOpen: true));
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: WriteBufferSize, leaveOpen: true));
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public async ValueTask DisposeAsync()
    {
        await Input.CompleteAsync().ConfigureAwait(false);
        try
        {
            await Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // Completing flushes what is buffered; the peer may already be gone.
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
