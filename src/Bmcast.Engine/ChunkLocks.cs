namespace Bmcast.Engine;

/// <summary>
/// Mutual exclusion per chunk between filling it with image data and guest writes into it: this is
/// what keeps DESIGN §4 rule 3 (guest writes are never overwritten). Striped so memory stays fixed
/// for any disk size; a holder never takes a second stripe, so stripes cannot deadlock.
/// </summary>
internal sealed class ChunkLocks
{
    private const int Stripes = 1024;
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, Stripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    public async ValueTask<Releaser> AcquireAsync(long chunk, CancellationToken ct)
    {
        var stripe = _stripes[chunk % Stripes];
        await stripe.WaitAsync(ct);
        return new Releaser(stripe);
    }

    public readonly struct Releaser(SemaphoreSlim stripe) : IDisposable
    {
        public void Dispose() => stripe.Release();
    }
}
