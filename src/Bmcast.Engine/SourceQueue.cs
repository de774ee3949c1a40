namespace Bmcast.Engine;

/// <summary>
/// The gate in front of the image source that makes on-demand fetches go first (DESIGN §4 rule 8):
/// an on-demand fetch is admitted at once; a background fetch only while no on-demand fetch is at
/// the source and the chunks of background fetches there stay within the background limit (a run of
/// several chunks counts each; one is always admitted when none is there), otherwise it waits in line. A waiting
/// background fetch that a guest request joins is promoted and admitted at once. What is already
/// on the wire cannot be called back, so the limit also bounds how many background chunks an
/// on-demand request can find ahead of it on the link.
/// </summary>
internal sealed class SourceQueue(int backgroundLimit)
{
    private readonly Lock _gate = new();
    private readonly Queue<ChunkFill> _waiting = new();
    private int _onDemandAtSource;
    private int _backgroundAtSource;

    /// <summary>Completes when <paramref name="fill"/> may read from the source; most often already completed.</summary>
    public Task EnterAsync(ChunkFill fill)
    {
        lock (_gate)
        {
            if (fill.Priority == FetchPriority.OnDemand || CanAdmitBackground(fill.Count))
            {
                Admit(fill, fill.Priority);
                return Task.CompletedTask;
            }
            _waiting.Enqueue(fill);
            return fill.WaitForTurn();
        }
    }

    /// <summary>
    /// A guest request needs <paramref name="fill"/>: fetch it on demand, now if it waits in line. A
    /// fill that has not entered yet enters on demand; one that never enters (a zero chunk, written
    /// without a fetch) is not counted at the source, where it would never leave.
    /// </summary>
    public void Promote(ChunkFill fill)
    {
        bool admitted = false;
        lock (_gate)
        {
            fill.Promote();
            if (fill.AdmittedAs is null && fill.IsWaitingForTurn)
            {
                Admit(fill, FetchPriority.OnDemand);
                admitted = true;
            }
        }
        if (admitted)
            fill.GrantTurn();
    }

    public void Leave(ChunkFill fill)
    {
        lock (_gate)
        {
            if (fill.AdmittedAs == FetchPriority.OnDemand)
                _onDemandAtSource--;
            else
                _backgroundAtSource -= fill.Count;
        }
        // Granted outside the gate: each goes on to its read on this thread (ChunkFill.GrantTurn).
        while (AdmitNextInLine() is { } next)
            next.GrantTurn();
    }

    /// <summary>
    /// The first fill in line when it may go to the source now, admitted; null when none may. In line order: a run
    /// that does not fit yet keeps the ones behind it waiting too.
    /// </summary>
    private ChunkFill? AdmitNextInLine()
    {
        lock (_gate)
        {
            while (_waiting.TryPeek(out var next) && (next.AdmittedAs is not null || CanAdmitBackground(next.Count)))
            {
                _waiting.Dequeue();
                if (next.AdmittedAs is null)
                {
                    Admit(next, FetchPriority.Background);
                    return next;
                }
            }
            return null;
        }
    }

    private bool CanAdmitBackground(int chunks) =>
        _onDemandAtSource == 0 && (_backgroundAtSource == 0 || _backgroundAtSource + chunks <= backgroundLimit);

    /// <summary>
    /// Under the gate; the caller grants the fill's turn once out of it, unless it entered without waiting. A promoted
    /// fill stays in <see cref="_waiting"/> and is skipped there.
    /// </summary>
    private void Admit(ChunkFill fill, FetchPriority priority)
    {
        fill.AdmittedAs = priority;
        if (priority == FetchPriority.OnDemand)
            _onDemandAtSource++;
        else
            _backgroundAtSource += fill.Count;
    }
}
