using System.Text.Json;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// Applies one line of a deploy's <c>--json</c> events (docs/hosted.md) to its deployment. The same fold serves a
/// live deployment and a restarted controller catching up from the log, so both see it alike.
/// </summary>
public static class DeploymentEventFold
{
    /// <summary>Apply <paramref name="line"/>; false when it is not an event (ignored).</summary>
    public static bool Apply(Deployment d, string line)
    {
        JsonElement e;
        try
        {
            using var document = JsonDocument.Parse(line);
            e = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return false;
        }
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("event", out var name))
            return false;
        switch (name.GetString())
        {
            case "started":
                d.TotalBytes = Long(e, "total_bytes") ?? d.TotalBytes;
                d.PresentBytes = Long(e, "present_bytes") ?? d.PresentBytes;
                break;
            case "progress" or "stopped":
                ApplyProgress(d, e);
                break;
            case "complete":
                ApplyProgress(d, e);
                d.CopyCompleted = true;
                d.State = d.State.Advance(DeploymentState.Complete);
                break;
            case "machine-started":
                d.State = d.State.Advance(DeploymentState.Booting);
                break;
            case "ready":
                d.TimeToReadySeconds = e.GetProperty("time_to_ready").GetDouble();
                d.State = d.State.Advance(DeploymentState.Ready);
                break;
            case "pivoted":
                d.State = d.State.Advance(DeploymentState.Pivoted);
                break;
            case "pivot-failed":
                d.Error = "pivot failed (the guest runs on through the agent): " + e.GetProperty("error").GetString();
                break;
            case "machine-exited":
                d.MachineExited = true;
                break;
        }
        return true;
    }

    private static void ApplyProgress(Deployment d, JsonElement e)
    {
        d.TotalBytes = Long(e, "total_bytes") ?? d.TotalBytes;
        d.PresentBytes = Long(e, "present_bytes") ?? d.PresentBytes;
        d.OnDemandBytes = Long(e, "on_demand_bytes") ?? d.OnDemandBytes;
        d.BackgroundBytes = Long(e, "background_bytes") ?? d.BackgroundBytes;
        d.GuestWrittenBytes = Long(e, "guest_written_bytes") ?? d.GuestWrittenBytes;
        d.FetchFailures = Long(e, "fetch_failures") ?? d.FetchFailures;
        d.VerificationFailures = Long(e, "verification_failures") ?? d.VerificationFailures;
    }

    private static long? Long(JsonElement e, string name) => e.TryGetProperty(name, out var value) ? value.GetInt64() : null;

    /// <summary>
    /// The terminal state once the deploy process is gone: stopped if asked to; finished when the machine exited with
    /// the target complete; failed otherwise, with the reason (<paramref name="lastError"/>: the deploy's last error line).
    /// </summary>
    public static void Finish(Deployment d, int? exitCode, string? lastError)
    {
        if (d.StopRequested)
            d.State = DeploymentState.Stopped;
        else if (exitCode is null or 0 && d.MachineExited && d.CopyCompleted)
            d.State = DeploymentState.Finished;
        else
        {
            d.State = DeploymentState.Failed;
            d.Error ??= lastError
                ?? (d.MachineExited ? "the machine exited before its copy completed"
                : exitCode is { } code ? $"the deploy process exited with code {code}"
                : "the deploy process ended without a machine-exited event");
        }
    }
}
