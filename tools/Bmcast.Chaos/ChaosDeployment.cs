using Bmcast.Protocols.Nbd.Client;
using Bmcast.TestKit.Processes;

namespace Bmcast.Chaos;

/// <summary>
/// A deployment under way, for <see cref="ChaosRig.FinishAsync"/>: the streaming agent writing
/// <paramref name="Target"/>, the guest's connection to its export, and the run's directory (where an
/// unfinished deployment keeps the agent's log).
/// </summary>
public sealed record ChaosDeployment(string Directory, string Target, BmcastProcess Agent, NbdClient Client);
