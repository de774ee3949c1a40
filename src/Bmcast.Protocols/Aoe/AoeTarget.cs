using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Aoe;

/// <summary>
/// Exports a catalog's devices read-only over AoE: each listed export on its own slot number of one shelf, and their
/// manifests on the same slots of another (<see cref="AoeSlotTable"/>). The catalog is read again every
/// <see cref="AoeTargetOptions.SlotRefreshInterval"/>: images imported since appear, removed ones stop answering.
/// Several receive threads share the socket so replies are built on every core; each takes the frames queued
/// so far in one call, answers them all, and sends the replies in one call.
/// </summary>
public sealed class AoeTarget : IAsyncDisposable
{
    /// <summary>Frames per receive and per send: an initiator's whole window arrives in one or two batches.</summary>
    private const int BatchSize = 64;
    private readonly IFrameChannel _channel;
    private readonly AoeTargetOptions _options;
    private readonly ILogger _logger;

    private AoeTarget(IFrameChannel channel, AoeSlotTable slots, AoeTargetOptions options, ILogger logger)
    {
        _channel = channel;
        _options = options;
        _logger = logger;
        Slots = slots;
        Handler = new AoeTargetHandler(channel.Address, channel.Mtu, slots, options, logger);
    }

    public AoeSlotTable Slots { get; }

    public AoeTargetHandler Handler { get; }

    /// <summary>Export the catalog's slots (<see cref="AoeSlotTable"/>) on <paramref name="channel"/>.</summary>
    public static async Task<AoeTarget> CreateAsync(IFrameChannel channel, IExportCatalog catalog, AoeTargetOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        if (AoeProtocol.SectorsPerFrame(channel.Mtu) < 1)
            throw new ArgumentException($"MTU {channel.Mtu} cannot carry one sector per frame");
        return new AoeTarget(channel, await AoeSlotTable.OpenAsync(catalog, options, cancellationToken), options, logger);
    }

    /// <summary>Serve until cancelled; cancelling disposes the channel, which is what unblocks the receive threads.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        foreach (var slot in Slots.Current)
            LogSlot(slot);
        _logger.LogInformation("AoE target on {Address}, MTU {Mtu}, {Sectors} sectors per frame, receiving through {Path}",
            _channel.Address, _channel.Mtu, Handler.SectorsPerFrame, (_channel as PacketSocketChannel)?.ReceivePath ?? _channel.GetType().Name);
        var loops = new Task[_options.Workers];
        for (int i = 0; i < loops.Length; i++)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loops[i] = done.Task;
            new Thread(() => ReceiveLoop(done, cancellationToken)) { IsBackground = true, Name = $"aoe-target-{i}" }.Start();
        }
        await using (cancellationToken.Register(_channel.Dispose))
            await Task.WhenAll([.. loops, RefreshLoopAsync(cancellationToken)]);
    }

    private void LogSlot(AoeSlot slot) =>
        _logger.LogInformation("AoE e{Shelf}.{Slot}: {Name} ({Sectors} sectors)", Handler.ShelfOf(slot), slot.Number, slot.Description, slot.Sectors);

    /// <summary>Keep the slots in step with the catalog; a failed refresh (a damaged image, say) keeps the old ones.</summary>
    private async Task RefreshLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.SlotRefreshInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    var (added, removed) = await Slots.RefreshAsync(cancellationToken);
                    foreach (var slot in removed)
                        _logger.LogInformation("AoE e{Shelf}.{Slot}: {Name} no longer exported", Handler.ShelfOf(slot), slot.Number, slot.Description);
                    foreach (var slot in added)
                        LogSlot(slot);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogWarning("AoE slots not refreshed: {Error}", e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void ReceiveLoop(TaskCompletionSource done, CancellationToken cancellationToken)
    {
        // A little slack beyond the MTU so an oversized frame is seen as such rather than silently cut to fit.
        var requests = new FrameBatch(BatchSize, AoeProtocol.EthernetHeaderLength + _channel.Mtu + 64);
        var replies = new ReplyBatch(_channel, BatchSize, Handler.MaxReplyLength);
        try
        {
            while (true)
            {
                _channel.Receive(requests);
                for (int i = 0; i < requests.Count; i++)
                {
                    // Reads are served from memory or a synchronous file read, so this rarely blocks on a task.
                    var handled = Handler.HandleAsync(requests.Frame(i), replies, cancellationToken);
                    if (!handled.IsCompletedSuccessfully)
                        handled.AsTask().GetAwaiter().GetResult();
                }
                replies.Flush();
            }
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested
                                  && e is ObjectDisposedException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            done.SetResult();
        }
        catch (Exception e)
        {
            done.SetException(e);
        }
    }

    public ValueTask DisposeAsync() => Slots.DisposeAsync();
}
