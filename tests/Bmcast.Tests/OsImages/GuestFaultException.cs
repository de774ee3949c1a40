namespace Bmcast.Tests.OsImages;

/// <summary>The guest printed a line that says the boot cannot reach its marker (see <see cref="GuestMachine.WaitForAsync"/>).</summary>
public sealed class GuestFaultException(string message) : Exception(message);
