using Bmcast.Cli.Streaming;
using Bmcast.Machines.Qemu;

namespace Bmcast.Cli.Deploy;

/// <summary>A deployment: the stream to run and the machine to boot from it.</summary>
internal sealed record DeployRequest(StreamRequest Stream, MachineSpec Machine);
