namespace Bmcast.Protocols.Aoe;

/// <summary>
/// A request went unanswered after every send. <see cref="TargetFound"/> is false when not even discovery was
/// answered: nothing listens at that shelf.slot, which is how an initiator learns that a target has no
/// manifest companion.
/// </summary>
public sealed class AoeNoReplyException(string message, bool targetFound) : IOException(message)
{
    public bool TargetFound { get; } = targetFound;
}
