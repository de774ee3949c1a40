namespace Bmcast.Controller.Deployments;

/// <summary>
/// Where a deployment is. The running states only move forward (in this order); the last three are terminal.
/// A small image may complete its copy before the guest is ready: it then shows <c>complete</c>, with its
/// time-to-ready still recorded.
/// </summary>
public enum DeploymentState
{
    /// <summary>Accepted; its deploy process is starting.</summary>
    Pending,
    /// <summary>The machine started and is not ready yet.</summary>
    Booting,
    /// <summary>The guest printed its ready marker; the copy goes on in the background.</summary>
    Ready,
    /// <summary>Every block is on the target.</summary>
    Complete,
    /// <summary>The guest's disk is the target file: no I/O passes through bmcast any more.</summary>
    Pivoted,
    /// <summary>The machine exited with its target complete (after the pivot, or after the copy finished).</summary>
    Finished,
    /// <summary>Stopped by <c>DELETE</c>.</summary>
    Stopped,
    /// <summary>The deploy failed or ended early; the error says why.</summary>
    Failed,
}

public static class DeploymentStates
{
    public static bool IsTerminal(this DeploymentState state) => state >= DeploymentState.Finished;

    /// <summary>The later of two running states (a stale event never moves a deployment back).</summary>
    public static DeploymentState Advance(this DeploymentState state, DeploymentState to) => to > state ? to : state;
}
