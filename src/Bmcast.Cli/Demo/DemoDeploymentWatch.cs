using System.Diagnostics;
using System.Runtime.InteropServices;
using Bmcast.Agent.Events;

namespace Bmcast.Cli.Demo;

/// <summary>
/// What the demo needs from its bmcast deployment's events (the machine, what was fetched by ready, when the copy
/// completed, the pivot), passed on unchanged to the console reporter. Its clock starts with the deployment.
/// </summary>
internal sealed partial class DemoDeploymentWatch(IDeploymentEventSink next) : IDeploymentEventSink
{
    private const int SigTerm = 15;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TaskCompletionSource<string?> _pivot = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int? _machinePid;

    public GuestReady? Ready { get; private set; }

    /// <summary>When every block was on the local disk.</summary>
    public TimeSpan? CompletedAt { get; private set; }

    /// <summary>Completes with null once the guest runs on the local disk, or with the error of a failed pivot.</summary>
    public Task<string?> Pivot => _pivot.Task;

    public void Publish(DeploymentEvent deploymentEvent)
    {
        switch (deploymentEvent)
        {
            case MachineStarted e:
                _machinePid = e.Pid;
                break;
            case GuestReady e:
                Ready = e;
                break;
            case StreamCompleted:
                CompletedAt = _clock.Elapsed;
                break;
            case DiskPivoted:
                _pivot.TrySetResult(null);
                break;
            case PivotFailed e:
                _pivot.TrySetResult(e.Error);
                break;
        }
        next.Publish(deploymentEvent);
    }

    /// <summary>
    /// End the guest's machine: SIGTERM, on which QEMU exits at once (the tiny guest ignores the ACPI power button, so
    /// asking it would only wait out the deploy's grace period). The deploy then ends as after a power-off.
    /// </summary>
    public void StopMachine()
    {
        if (_machinePid is { } pid && kill(pid, SigTerm) != 0 && Marshal.GetLastPInvokeError() != 3 /* ESRCH: already gone */)
            throw new IOException($"could not stop the machine (QEMU PID {pid}): errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
