using Bmcast.Agent.Streaming;
using Bmcast.Machines.Qemu;

namespace Bmcast.Agent.Deploy;

/// <summary>A deployment: the stream to run and the machine to boot from it.</summary>
public sealed record DeployRequest(StreamRequest Stream, MachineSpec Machine);
