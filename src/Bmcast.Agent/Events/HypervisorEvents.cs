namespace Bmcast.Agent.Events;

/// <summary>The hypervisor's streaming counters, as its serial events report them (vmm/README.md, "Serial events").</summary>
public sealed record HypervisorCounts(long PresentChunks, long Chunks, long PresentPercent, long OnDemandBytes, long BackgroundBytes,
    long FetchedChunks, long ZeroFilledChunks, long GuestOwnedChunks);

/// <summary>The hypervisor checked the manifest against the pinned root and starts the OS with streaming on.</summary>
public sealed record HypervisorStreaming(TimeSpan Time, long ImageBytes, long Chunks, long ZeroChunks, long PresentChunks, long ReservedBytes)
    : DeploymentEvent(Time);

/// <summary>At most once a second while chunks arrive.</summary>
public sealed record HypervisorProgressed(TimeSpan Time, HypervisorCounts Counts) : DeploymentEvent(Time);

/// <summary>Every chunk is present on the local disk, flushed, and the presence map committed.</summary>
public sealed record HypervisorCompleted(TimeSpan Time, HypervisorCounts Counts) : DeploymentEvent(Time);

/// <summary>The hypervisor turned SVM off: the OS runs on the bare (emulated) machine, with no exits from here on.</summary>
public sealed record HypervisorLeft(TimeSpan Time, long Exits) : DeploymentEvent(Time);

/// <summary>A chunk could not be made present (the guest's command failing with it got an I/O error).</summary>
public sealed record HypervisorFailed(TimeSpan Time, string Reason, long Chunk) : DeploymentEvent(Time);

/// <summary>The local disk compared with the image, at completion (the machine paused meanwhile).</summary>
public sealed record DiskVerified(TimeSpan Time, bool Equal, long ComparedChunks, long GuestWrittenChunks, long DifferingChunks, IReadOnlyList<long> Differing)
    : DeploymentEvent(Time);
