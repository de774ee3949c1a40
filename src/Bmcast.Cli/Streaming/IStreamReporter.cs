using Bmcast.Engine;

namespace Bmcast.Cli.Streaming;

/// <summary>Where the agent reports a deployment's life: JSON events for programs, a progress display for people.</summary>
internal interface IStreamReporter
{
    void Started(StreamRequest request, StreamingSession session, bool verified, StreamingProgress progress);
    void Progress(StreamingProgress progress);
    void Complete(StreamingProgress progress);
    void Stopped(StreamingProgress progress);
}
