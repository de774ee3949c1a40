namespace Bmcast.Protocols.Aoe;

/// <summary>
/// The requests of one read, completed together: one task (and one thread-pool wake-up) per read rather than
/// per frame. The first failure ends the set. Guarded by the initiator's lock.
/// </summary>
internal sealed class AoeRequestSet(int parts)
{
    private int _remaining = parts;

    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsOver => Completion.Task.IsCompleted;

    public void PartDone()
    {
        if (--_remaining == 0)
            Completion.TrySetResult();
    }

    public void Fail(Exception error) => Completion.TrySetException(error);

    public void Cancel(CancellationToken cancellationToken) => Completion.TrySetCanceled(cancellationToken);
}
