using System.Text.Json;
using Bmcast.Engine;

namespace Bmcast.Agent.Events;

/// <summary>
/// One JSON object per line on stdout, for programs that drive bmcast (<c>--json</c>). Every event
/// has <c>event</c> and <c>time</c> (seconds since start); field names are snake_case and stable.
/// </summary>
public sealed class JsonEventWriter(TextWriter output)
{
    private readonly Lock _gate = new();

    public void Write(string name, TimeSpan elapsed, Action<Utf8JsonWriter>? fields = null)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event", name);
            json.WriteNumber("time", Math.Round(elapsed.TotalSeconds, 3));
            fields?.Invoke(json);
            json.WriteEndObject();
        }
        string line = System.Text.Encoding.UTF8.GetString(buffer.ToArray());
        lock (_gate)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }

    public void WriteProgress(string name, StreamingProgress p) => Write(name, p.Elapsed, json =>
    {
        json.WriteNumber("total_bytes", p.TotalBytes);
        json.WriteNumber("present_bytes", p.PresentBytes);
        json.WriteNumber("on_demand_bytes", p.BytesOnDemand);
        json.WriteNumber("background_bytes", p.BytesBackground);
        json.WriteNumber("zero_chunks", p.ZeroChunks);
        json.WriteNumber("guest_written_bytes", p.GuestBytesWritten);
        json.WriteNumber("fetch_failures", p.FetchFailures);
        json.WriteNumber("verification_failures", p.VerificationFailures);
        json.WriteStartArray("sources");
        foreach (var source in p.Sources)
        {
            json.WriteStartObject();
            json.WriteString("uri", source.Uri);
            json.WriteNumber("bytes", source.Bytes);
            json.WriteString("state", source.Down ? "down" : "ok");
            json.WriteEndObject();
        }
        json.WriteEndArray();
    });
}
