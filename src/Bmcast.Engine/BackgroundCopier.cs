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
    private readonly IReadOnlyList<long> _preferredOrder = [];
    // Built once with the order: every pass asks it of every chunk.
    private readonly HashSet<long> _preferred = [];
    private volatile bool _passBlocked;

    /// <summary>
    /// Chunk indexes in the order they should be fetched; chunks not listed follow in disk order. Kept
    /// without repeats and chunks beyond the disk.
    /// </summary>
    public IReadOnlyList<long> PreferredOrder
    {
        get => _preferredOrder;
        init
        {
            var order = new List<long>();
            foreach (long chunk in value)
                if (chunk >= 0 && chunk < disk.Geometry.ChunkCount && _preferred.Add(chunk))
                    order.Add(chunk);
            _preferredOrder = order;
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
                if (pass++ > 0)
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
        foreach (long chunk in Order())
        {
            // Every further chunk would fail the same way; the next pass tries again.
            if (_passBlocked)
                break;
            if (disk.IsChunkPresent(chunk))
                continue;
            // Zero chunks cost no transfer, so they spend none of the guest's share of the link.
            if (!disk.IsKnownZeroChunk(chunk))
                await moderator.WaitForTurnAsync(disk.Geometry.ChunkLength(chunk), waitForIdleGuest: !_preferred.Contains(chunk), ct);
            await slots.WaitAsync(ct);
            running.Add(CopyChunkAsync(chunk, slots, ct));
            running.RemoveAll(t => t.IsCompleted);
        }
        await Task.WhenAll(running);
    }

    private async Task CopyChunkAsync(long chunk, SemaphoreSlim slots, CancellationToken ct)
    {
        try
        {
            await disk.EnsureChunkAsync(chunk, FetchPriority.Background, ct);
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

    private IEnumerable<long> Order()
    {
        foreach (long chunk in _preferredOrder)
            yield return chunk;
        for (long chunk = 0; chunk < disk.Geometry.ChunkCount; chunk++)
            if (!_preferred.Contains(chunk))
                yield return chunk;
    }
}
