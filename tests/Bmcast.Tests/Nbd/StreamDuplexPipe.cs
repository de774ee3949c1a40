using System.IO.Pipelines;

namespace Bmcast.Tests.Nbd;

/// <summary>A connected stream (a real socket) as the pipe pair <see cref="RawNbdPeer"/> speaks over.</summary>
internal sealed class StreamDuplexPipe(Stream stream) : IDuplexPipe
{
    public PipeReader Input { get; } = PipeReader.Create(stream);

    public PipeWriter Output { get; } = PipeWriter.Create(stream);
}
