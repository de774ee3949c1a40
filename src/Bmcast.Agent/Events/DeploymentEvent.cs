using Bmcast.Engine;

namespace Bmcast.Agent.Events;

/// <summary>
/// Something that happened in a deployment, as data. <see cref="Time"/> is the time since the run that reports it
/// started (the streaming agent's clock for the stream's events, the deploy's for the machine's).
/// </summary>
public abstract record DeploymentEvent(TimeSpan Time);

/// <summary>The stream's progress at a moment; its time is the agent's elapsed time in <see cref="Progress"/>.</summary>
public abstract record StreamEvent(StreamingProgress Progress) : DeploymentEvent(Progress.Elapsed);

/// <summary>The disk is open and exported: clients (the guest) may connect.</summary>
/// <param name="Resumed">An earlier run's presence map was found and continued.</param>
/// <param name="Verified">Every fetched chunk is checked against a signed manifest.</param>
public sealed record StreamStarted(IReadOnlyList<string> Sources, string Target, string Export, bool Resumed, bool Verified, StreamingProgress Progress)
    : StreamEvent(Progress);

/// <summary>Reported once a second while the copy runs.</summary>
public sealed record StreamProgressed(StreamingProgress Progress) : StreamEvent(Progress);

/// <summary>Every block is present and committed: the target alone holds the image (plus the guest's writes).</summary>
public sealed record StreamCompleted(StreamingProgress Progress) : StreamEvent(Progress);

/// <summary>The agent stopped exporting (stopped, or after the pivot); the presence map is committed.</summary>
public sealed record StreamStopped(StreamingProgress Progress) : StreamEvent(Progress);

/// <summary>
/// The source now serves another image than the deployment's (its manifest root changed, or it publishes none): nothing
/// more is fetched from it, and the deployment stays resumable. Reported once.
/// </summary>
/// <param name="ServedRoot">The root it serves now, in hex; null when it publishes no valid manifest.</param>
public sealed record SourceChanged(TimeSpan Time, string Source, string ExpectedRoot, string? ServedRoot, string Message) : DeploymentEvent(Time);

/// <summary>The machine booting from the agent's export started.</summary>
public sealed record MachineStarted(TimeSpan Time, string Accelerator, int Pid) : DeploymentEvent(Time);

/// <summary>The guest printed a line starting with the marker prefix (<c>BMCAST-</c>) on its console.</summary>
public sealed record GuestMarker(TimeSpan Time, string Marker) : DeploymentEvent(Time);

/// <summary>The guest printed its ready marker: <paramref name="TimeToReady"/> after the deployment started.</summary>
/// <param name="GuestReadBytes">What the guest had read from its disk by then (QEMU's count).</param>
public sealed record GuestReady(TimeSpan Time, TimeSpan TimeToReady, long GuestReadBytes, long OnDemandBytes, long BackgroundBytes)
    : DeploymentEvent(Time);

/// <summary>The running guest's disk now is the target file; <paramref name="Pause"/> is how long its I/O waited.</summary>
public sealed record DiskPivoted(TimeSpan Time, TimeSpan Pause) : DeploymentEvent(Time);

/// <summary>
/// The pivot failed and was rolled back: the guest runs on, on the agent's export, which keeps serving it until the
/// machine exits.
/// </summary>
public sealed record PivotFailed(TimeSpan Time, string Error) : DeploymentEvent(Time);

/// <summary>The machine powered off (or was stopped).</summary>
public sealed record MachineExited(TimeSpan Time) : DeploymentEvent(Time);
