namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// A fuzz target let through something its protocol forbids: a forged reply completed a request, a
/// read-only image was written, a tampered manifest verified, a reply broke the frame limits.
/// </summary>
public sealed class FuzzViolationException(string message) : Exception(message);
