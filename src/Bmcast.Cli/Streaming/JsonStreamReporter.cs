using Bmcast.Cli.Output;
using Bmcast.Engine;

namespace Bmcast.Cli.Streaming;

/// <summary>Events <c>started</c>, <c>progress</c> (each second), <c>complete</c>, <c>stopped</c>, one JSON object per line.</summary>
internal sealed class JsonStreamReporter(JsonEventWriter events) : IStreamReporter
{
    public void Started(StreamRequest request, StreamingSession session, bool verified, StreamingProgress progress) =>
        events.Write("started", progress.Elapsed, json =>
        {
            json.WriteString("export", request.Export.ToString());
            json.WriteString("target", request.TargetPath);
            json.WriteBoolean("resumed", session.Resumed);
            json.WriteBoolean("verified", verified);
            json.WriteNumber("total_bytes", progress.TotalBytes);
            json.WriteNumber("present_bytes", progress.PresentBytes);
        });

    public void Progress(StreamingProgress progress) => events.WriteProgress("progress", progress);

    public void Complete(StreamingProgress progress) => events.WriteProgress("complete", progress);

    public void Stopped(StreamingProgress progress) => events.WriteProgress("stopped", progress);
}
