using Bmcast.Protocols.Nbd.Client;

namespace Bmcast.Chaos;

/// <summary>
/// A campaign's guest as <see cref="ChaosRig.FinishAsync"/> judges it when a deployment ends: what
/// the guest saw through the agent's export, and what the finished target must hold.
/// </summary>
public interface IChaosGuest
{
    /// <summary>
    /// The deployment has completed, or never will: stop if still running, check what must be checked
    /// through the export (still open), and count what was seen.
    /// </summary>
    Task FinishAsync(NbdClient client, ChaosTally tally, CancellationToken ct);

    /// <summary>Judge every block of the finished target file; the agent has stopped.</summary>
    Task JudgeTargetAsync(string target, ChaosTally tally, CancellationToken ct);
}
