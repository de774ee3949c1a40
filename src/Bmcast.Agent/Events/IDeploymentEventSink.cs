namespace Bmcast.Agent.Events;

/// <summary>
/// Where a deployment reports its life (<see cref="DeploymentEvent"/>): JSON lines for programs, a progress display for
/// people, a controller's records. Called on the deployment's own tasks, one event at a time, in order; a sink that is
/// slow slows the reporting, never the guest's I/O.
/// </summary>
public interface IDeploymentEventSink
{
    void Publish(DeploymentEvent deploymentEvent);
}
