using System.IO.Pipelines;

namespace Bmcast.Protocols.Transport;

/// <summary>
/// Two in-memory pipes joined as a connection, for peers in one process (protocol tests, fuzzing):
/// what one side writes, the other reads.
/// </summary>
public sealed class InMemoryConnection
{
    private readonly Pipe _toServer = new();
    private readonly Pipe _toClient = new();

    public InMemoryConnection()
    {
        ServerSide = new Duplex(_toServer.Reader, _toClient.Writer);
        ClientSide = new Duplex(_toClient.Reader, _toServer.Writer);
    }

    public IDuplexPipe ServerSide { get; }

    public IDuplexPipe ClientSide { get; }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;
}
