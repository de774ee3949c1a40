using Bmcast.Core.Storage;
using Bmcast.Engine.Sources;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine;

/// <summary>
/// Fills every chunk that is still absent, in the given order (a boot profile first, then the rest
/// of the disk), keeping several fetches in flight and yielding to the guest through the moderator.
/// A chunk that fails is retried on the next pass; a source declared unavailable or a full target
/// ends the pass at once (every further chunk would fail the same way), so the copier waits between
/// passes until the server or the space returns. The copier ends when every block is present.
/// Chunks of the preferred order (a boot profile) are predicted guest reads: they are fetched at
/// once, without waiting for the guest to go idle, within the bandwidth cap.
/// </summary>
public sealed class BackgroundCopier(StreamingDisk disk, BackgroundModerator moderator, StreamingOptions options, ILogger logger)
{
    private static readonly TimeSpan CompletionPoll = TimeSpan.FromMilliseconds(100);
    private volatile Preference _preference = new([], []);
    /// <summary>Set when the order changes during a pass: the pass stops and the next starts in the new order.</summary>
    private volatile bool _orderChanged;
    /// <summary>Cancels the running pass's wait for its turn when the order changes (the wait may be long: an idle guest).</summary>
    private volatile CancellationTokenSource? _passInterrupt;
    private volatile bool _passBlocked;

    /// <summary>
    /// Chunk indexes in the order they should be fetched; chunks not listed follow in disk order. Kept
    /// without repeats and chunks beyond the disk. May be set while the copier runs (a boot profile that
    /// arrives after the copy started): the chunks still absent are then taken in the new order.
    /// </summary>
    public IReadOnlyList<long> PreferredOrder
    {
        get => _preference.Order;
        set
        {
            var order = new List<long>();
            var preferred = new HashSet<long>();
            foreach (long chunk in value)
                if (chunk >= 0 && chunk < disk.Geometry.ChunkCount && preferred.Add(chunk))
                    order.Add(chunk);
            _preference = new Preference(order, preferred);
            _orderChanged = true;
            try
            {
                _passInterrupt?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The pass ended meanwhile; the next one reads the new order.
            }
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        // A guest that never pauses keeps the copier waiting for its turn while the guest's own reads
        // may fill every chunk: a watcher ends the wait once the disk is complete.
        using var complete = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watcher = CancelWhenCompleteAsync(complete);
        try
        {
            int pass = 0;
            while (!disk.Presence.IsComplete)
            {
                // A pass cut short by a new order is not a failed one: the next starts at once.
                if (pass++ > 0 && !_orderChanged)
                    await Task.Delay(options.MaxRetryDelay, complete.Token);
                await CopyPassAsync(complete.Token);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && disk.Presence.IsComplete)
        {
        }
        finally
        {
            await complete.CancelAsync();
            await watcher;
        }
    }

    private async Task CancelWhenCompleteAsync(CancellationTokenSource complete)
    {
        using var timer = new PeriodicTimer(CompletionPoll);
        try
        {
            while (await timer.WaitForNextTickAsync(complete.Token))
                if (disk.Presence.IsComplete)
                {
                    await complete.CancelAsync();
                    return;
                }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CopyPassAsync(CancellationToken ct)
    {
        using var slots = new SemaphoreSlim(options.BackgroundParallelism);
        var running = new List<Task>();
        _passBlocked = false;
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _passInterrupt = interrupt;
        _orderChanged = false;
        var preference = _preference;
        try
        {
            // The end of the last run started in disk order: the chunks before it are in that run.
            long runEnd = 0;
            foreach (long chunk in Order(preference))
            {
                // Every further chunk would fail the same way; the next pass tries again. A new order starts a new pass.
                if (_passBlocked || _orderChanged)
                    break;
                bool preferred = preference.Chunks.Contains(chunk);
                if ((!preferred && chunk < runEnd) || disk.IsChunkPresent(chunk))
                    continue;
                // Zero chunks cost no transfer, so they spend none of the guest's share of the link. A run is admitted
                // by its first chunk: the rest follow it on the wire as one read.
                bool zero = disk.IsKnownZeroChunk(chunk);
                if (!zero)
                    await WaitForAdmissionAsync(disk.Geometry.ChunkLength(chunk), waitForIdleGuest: !preferred, interrupt.Token);
                await slots.WaitAsync(ct);
                // Predicted guest reads go one by one, so a guest read finds no run ahead of it; the rest in runs. Zero
                // chunks cost no transfer: their runs are as long as runs go.
                int maxChunks = preferred ? 1 : zero ? StreamingDisk.MaxRunChunks : options.BackgroundRunChunks;
                var fill = disk.EnsureRunAsync(chunk, maxChunks, out int chunks, ct);
                if (!preferred)
                    runEnd = chunk + chunks;
                if (!zero)
                    moderator.Spend(RunBytes(chunk, chunks) - disk.Geometry.ChunkLength(chunk));
                running.Add(CopyChunkAsync(chunk, fill, slots));
                running.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && _orderChanged)
        {
            // Interrupted while waiting for its turn: the next pass starts in the new order.
        }
        finally
        {
            _passInterrupt = null;
        }
        await Task.WhenAll(running);
    }

    /// <summary>Sleep each time exactly as long as the moderator says its answer cannot change.</summary>
    private async Task WaitForAdmissionAsync(int bytes, bool waitForIdleGuest, CancellationToken ct)
    {
        for (var admission = moderator.TryAdmit(bytes, waitForIdleGuest); !admission.IsAdmitted;
             admission = moderator.TryAdmit(bytes, waitForIdleGuest))
            await Task.Delay(admission.RetryAfter, ct);
    }

    private async Task CopyChunkAsync(long chunk, Task fill, SemaphoreSlim slots)
    {
        try
        {
            await fill;
        }
        catch (Exception e) when (e is ImageSourceUnavailableException or BlockDeviceException { Errno: BlockDeviceException.ENOSPC })
        {
            if (!_passBlocked)
                logger.LogWarning("background copy pauses: {Error}", e.Message);
            _passBlocked = true;
        }
        catch (IOException e)
        {
            logger.LogWarning("background copy of chunk {Chunk} failed, will retry: {Error}", chunk, e.Message);
        }
        finally
        {
            slots.Release();
        }
    }

    private long RunBytes(long first, int chunks) =>
        disk.Geometry.ChunkStart(first + chunks - 1) + disk.Geometry.ChunkLength(first + chunks - 1) - disk.Geometry.ChunkStart(first);

    private IEnumerable<long> Order(Preference preference)
    {
        foreach (long chunk in preference.Order)
            yield return chunk;
        for (long chunk = 0; chunk < disk.Geometry.ChunkCount; chunk++)
            if (!preference.Chunks.Contains(chunk))
                yield return chunk;
    }

    /// <summary>The preferred order and, built once with it, its set: every pass asks the set of every chunk.</summary>
    private sealed record Preference(IReadOnlyList<long> Order, HashSet<long> Chunks);
}
