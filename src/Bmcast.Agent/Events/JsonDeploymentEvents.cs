namespace Bmcast.Agent.Events;

/// <summary>
/// A deployment's events as JSON lines (<see cref="JsonEventWriter"/>): <c>started</c>, <c>progress</c> (each second),
/// <c>complete</c>, <c>stopped</c> from the stream; <c>machine-started</c>, <c>guest</c>, <c>ready</c>, <c>pivoted</c>
/// (or <c>pivot-failed</c>), <c>machine-exited</c> from a deploy. Names and fields are the stable <c>--json</c> format.
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
            default:
                throw new ArgumentException($"no JSON form for {deploymentEvent.GetType().Name}", nameof(deploymentEvent));
        }
    }
}
