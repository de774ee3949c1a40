namespace Bmcast.Engine.Sources;

/// <summary>
/// The image server has been unreachable for longer than the outage limit. The read fails at once
/// instead of being retried: the limit already is the operator's word on how long the guest may wait.
/// </summary>
public sealed class ImageSourceUnavailableException(string message, Exception inner) : IOException(message, inner);
