namespace Bmcast.Agent.Events;

/// <summary>
/// A deployment's events as JSON lines (<see cref="JsonEventWriter"/>): <c>started</c>, <c>progress</c> (each second),
/// <c>complete</c>, <c>stopped</c> from the stream; <c>machine-started</c>, <c>guest</c>, <c>ready</c>, <c>pivoted</c>
/// (or <c>pivot-failed</c>), <c>machine-exited</c> from a deploy; <c>streaming</c>, <c>progress</c>, <c>complete</c>,
/// <c>error</c>, <c>devirtualized</c> from the bare-metal hypervisor, and <c>verified</c> from the disk comparison. Names and fields are the stable <c>--json</c> format.
/// </summary>
public sealed class JsonDeploymentEvents(JsonEventWriter events) : IDeploymentEventSink
{
    public void Publish(DeploymentEvent deploymentEvent)
    {
        switch (deploymentEvent)
        {
            case StreamStarted e:
                events.Write("started", e.Time, json =>
                {
                    json.WriteString("export", e.Export);
                    json.WriteString("target", e.Target);
                    json.WriteBoolean("resumed", e.Resumed);
                    json.WriteBoolean("verified", e.Verified);
                    json.WriteNumber("total_bytes", e.Progress.TotalBytes);
                    json.WriteNumber("present_bytes", e.Progress.PresentBytes);
                });
                break;
            case StreamProgressed e:
                events.WriteProgress("progress", e.Progress);
                break;
            case StreamCompleted e:
                events.WriteProgress("complete", e.Progress);
                break;
            case StreamStopped e:
                events.WriteProgress("stopped", e.Progress);
                break;
            case MachineStarted e:
                events.Write("machine-started", e.Time, json =>
                {
                    json.WriteString("accelerator", e.Accelerator);
                    json.WriteNumber("pid", e.Pid);
                });
                break;
            case GuestMarker e:
                events.Write("guest", e.Time, json => json.WriteString("marker", e.Marker));
                break;
            case GuestReady e:
                events.Write("ready", e.Time, json =>
                {
                    json.WriteNumber("time_to_ready", Math.Round(e.TimeToReady.TotalSeconds, 3));
                    json.WriteNumber("guest_read_bytes", e.GuestReadBytes);
                    json.WriteNumber("on_demand_bytes", e.OnDemandBytes);
                    json.WriteNumber("background_bytes", e.BackgroundBytes);
                });
                break;
            case DiskPivoted e:
                events.Write("pivoted", e.Time, json => json.WriteNumber("pivot_ms", Math.Round(e.Pause.TotalMilliseconds, 1)));
                break;
            case SourceChanged e:
                events.Write("source-changed", e.Time, json =>
                {
                    json.WriteString("source", e.Source);
                    json.WriteString("expected_root", e.ExpectedRoot);
                    json.WriteString("served_root", e.ServedRoot);
                    json.WriteString("message", e.Message);
                });
                break;
            case PivotFailed e:
                events.Write("pivot-failed", e.Time, json => json.WriteString("error", e.Error));
                break;
            case MachineExited e:
                events.Write("machine-exited", e.Time);
                break;
            case HypervisorStreaming e:
                events.Write("streaming", e.Time, json =>
                {
                    json.WriteNumber("image_bytes", e.ImageBytes);
                    json.WriteNumber("chunks", e.Chunks);
                    json.WriteNumber("zero_chunks", e.ZeroChunks);
                    json.WriteNumber("present_chunks", e.PresentChunks);
                    json.WriteNumber("reserved_bytes", e.ReservedBytes);
                });
                break;
            case HypervisorProgressed e:
                WriteCounts("progress", e.Time, e.Counts);
                break;
            case HypervisorCompleted e:
                WriteCounts("complete", e.Time, e.Counts);
                break;
            case HypervisorLeft e:
                events.Write("devirtualized", e.Time, json => json.WriteNumber("exits", e.Exits));
                break;
            case HypervisorFailed e:
                events.Write("error", e.Time, json =>
                {
                    json.WriteString("reason", e.Reason);
                    json.WriteNumber("chunk", e.Chunk);
                });
                break;
            case DiskVerified e:
                events.Write("verified", e.Time, json =>
                {
                    json.WriteBoolean("equal", e.Equal);
                    json.WriteNumber("compared_chunks", e.ComparedChunks);
                    json.WriteNumber("guest_written_chunks", e.GuestWrittenChunks);
                    json.WriteNumber("differing_chunks", e.DifferingChunks);
                    json.WriteStartArray("differing");
                    foreach (long chunk in e.Differing)
                        json.WriteNumberValue(chunk);
                    json.WriteEndArray();
                });
                break;
            default:
                throw new ArgumentException($"no JSON form for {deploymentEvent.GetType().Name}", nameof(deploymentEvent));
        }
    }

    /// <summary>The hypervisor's counters: chunks present of all, bytes fetched on demand and in the background.</summary>
    private void WriteCounts(string name, TimeSpan time, HypervisorCounts c) => events.Write(name, time, json =>
    {
        json.WriteNumber("present_chunks", c.PresentChunks);
        json.WriteNumber("chunks", c.Chunks);
        json.WriteNumber("present_percent", c.PresentPercent);
        json.WriteNumber("on_demand_bytes", c.OnDemandBytes);
        json.WriteNumber("background_bytes", c.BackgroundBytes);
        json.WriteNumber("fetched_chunks", c.FetchedChunks);
        json.WriteNumber("zero_filled_chunks", c.ZeroFilledChunks);
        json.WriteNumber("guest_owned_chunks", c.GuestOwnedChunks);
    });
}
