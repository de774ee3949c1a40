namespace Bmcast.Machines.Qemu;

/// <summary>
/// A pivot failed before the guest's disk moved and was rolled back: the guest still runs on the agent's export,
/// which must keep serving it.
/// </summary>
public sealed class DiskPivotException(string message, Exception inner) : Exception(message, inner);
