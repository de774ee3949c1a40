using Bmcast.TestKit.Processes;

namespace Bmcast.Chaos.ServerMemory;

/// <summary>
/// Samples a process's resident memory every <see cref="Interval"/> while hostile clients run, keeping the largest
/// growth over a baseline, and cancels <see cref="Exceeded"/> the moment the growth passes the bound: the campaign then
/// ends the attack at once, so that a server without its limits (the code before issue 15's fix grew by gigabytes in
/// seconds) cannot take the shared machine down with it.
/// </summary>
public sealed class ResidentMemoryWatch : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _exceeded = new();
    private readonly Task _sampling;
    private long _peakGrowth;

    public ResidentMemoryWatch(int pid, long baseline, long bound)
    {
        Baseline = baseline;
        Bound = bound;
        _sampling = SampleAsync(pid);
    }

    public long Baseline { get; }

    public long Bound { get; }

    /// <summary>The largest growth over <see cref="Baseline"/> seen so far.</summary>
    public long PeakGrowth => Interlocked.Read(ref _peakGrowth);

    /// <summary>Cancelled once the growth has passed <see cref="Bound"/>.</summary>
    public CancellationToken Exceeded => _exceeded.Token;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        _stop.Dispose();
        _exceeded.Dispose();
    }

    private async Task SampleAsync(int pid)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                long growth = ResidentMemory.BytesOf(pid) - Baseline;
                if (growth > Interlocked.Read(ref _peakGrowth))
                    Interlocked.Exchange(ref _peakGrowth, growth);
                if (growth > Bound && !_exceeded.IsCancellationRequested)
                    await _exceeded.CancelAsync();
                await Task.Delay(Interval, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
            // The process has gone (/proc/PID vanished): nothing more to sample.
        }
        catch (InvalidOperationException)
        {
            // Its status no longer has a VmRSS line: a zombie.
        }
    }
}
