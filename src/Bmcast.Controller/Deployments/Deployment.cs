namespace Bmcast.Controller.Deployments;

/// <summary>One deployment: what was asked, and what its events and process said so far.</summary>
public sealed class Deployment
{
    public required string Id { get; init; }
    public required string Image { get; init; }
    public required string Target { get; init; }
    public string? GuestMode { get; init; }
    public required string Memory { get; init; }
    public required string Disk { get; init; }
    public required DateTimeOffset Created { get; init; }

    public DeploymentState State { get; set; }
    /// <summary>The deploy process (its own session: it outlives a controller crash).</summary>
    public int? Pid { get; set; }
    public bool StopRequested { get; set; }
    public double? TimeToReadySeconds { get; set; }
    public long TotalBytes { get; set; }
    public long PresentBytes { get; set; }
    public long OnDemandBytes { get; set; }
    public long BackgroundBytes { get; set; }
    /// <summary>From the progress events, for <c>/metrics</c> (not kept in the database: a restarted controller reads them again from the log).</summary>
    public long GuestWrittenBytes { get; set; }
    public long FetchFailures { get; set; }
    public long VerificationFailures { get; set; }
    /// <summary>Seen in the events: the copy completed, the machine exited.</summary>
    public bool CopyCompleted { get; set; }
    public bool MachineExited { get; set; }
    public string? Error { get; set; }

    public double PercentPresent => TotalBytes == 0 ? 0 : Math.Round(100.0 * PresentBytes / TotalBytes, 2);
}
