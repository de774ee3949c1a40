namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// Bounds the requests one connection has in flight. The read loop takes a slot before dispatching, so a
/// client that floods requests is paused by TCP backpressure instead of growing server memory.
/// </summary>
internal sealed class InflightRequests(int limit) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(limit, limit);

    public Task EnterAsync(CancellationToken cancellationToken) => _slots.WaitAsync(cancellationToken);

    /// <summary>Give back the slots of <paramref name="requests"/> answered requests.</summary>
    public void Exit(int requests)
    {
        if (requests > 0)
            _slots.Release(requests);
    }

    /// <summary>Completes when every request has replied: holding all slots means none is in flight.</summary>
    public async Task DrainAsync()
    {
        for (int i = 0; i < limit; i++)
            await _slots.WaitAsync().ConfigureAwait(false);
        _slots.Release(limit);
    }

    public void Dispose() => _slots.Dispose();
}
