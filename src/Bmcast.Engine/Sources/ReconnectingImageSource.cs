using System.Diagnostics;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine.Sources;

/// <summary>
/// Rides out image-server restarts: when the connection breaks, reads wait while it is re-established
/// with backoff and are then retried, so an outage shorter than <see cref="OutageLimit"/> costs the
/// guest latency, never an I/O error. Once an outage has lasted the limit, every read makes one
/// connection attempt and fails at once with <see cref="ImageSourceUnavailableException"/> (no queue
/// of reads each waiting out the limit again); the first attempt that succeeds ends the outage, so
/// the deployment resumes by itself when the server returns. Errors the server reports itself
/// (<see cref="BlockDeviceException"/>) are not connection failures and pass through, and so does a connection refused
/// as <see cref="ImageSourceUnavailableException"/> (a source found to serve another image: waiting does not help).
/// </summary>
public sealed class ReconnectingImageSource : IImageSource
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    /// <summary>A read unanswered this long drops the connection and is retried on a new one.</summary>
    private static readonly TimeSpan NoReplyLimit = TimeSpan.FromSeconds(30);

    private readonly Func<CancellationToken, Task<IImageSource>> _connect;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _reconnect = new(1, 1);
    private IImageSource? _current;
    private long _outageStarted;

    private ReconnectingImageSource(IImageSource first, Func<CancellationToken, Task<IImageSource>> connect, TimeSpan outageLimit, ILogger logger)
    {
        _current = first;
        _connect = connect;
        _logger = logger;
        OutageLimit = outageLimit;
        Size = first.Size;
        Description = first.Description;
    }

    public long Size { get; }

    public string Description { get; }

    public TimeSpan OutageLimit { get; }

    /// <summary>Connect once (failing at once if the server is not there at start), then keep reconnecting as needed.</summary>
    public static async Task<ReconnectingImageSource> ConnectAsync(Func<CancellationToken, Task<IImageSource>> connect, TimeSpan outageLimit, ILogger logger, CancellationToken ct) =>
        new(await connect(ct), connect, outageLimit, logger);

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        while (true)
        {
            var source = await ConnectedAsync(ct);
            using var noReply = CancellationTokenSource.CreateLinkedTokenSource(ct);
            noReply.CancelAfter(NoReplyLimit);
            try
            {
                await source.ReadAsync(offset, buffer, noReply.Token);
                return;
            }
            catch (IOException e) when (e is not BlockDeviceException)
            {
                await DropAsync(source, e);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // A connection that stays open but never answers is as dead as a closed one.
                await DropAsync(source, new IOException($"no reply within {NoReplyLimit.TotalSeconds:0} s"));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _current, null) is { } source)
            await source.DisposeAsync();
        _reconnect.Dispose();
    }

    private async Task<IImageSource> ConnectedAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _current) is { } current)
            return current;
        await _reconnect.WaitAsync(ct);
        try
        {
            var backoff = FirstBackoff;
            int failedAttempts = 0;
            string? lastFailure = null;
            while (_current is null)
            {
                Interlocked.CompareExchange(ref _outageStarted, Stopwatch.GetTimestamp(), 0);
                try
                {
                    var fresh = await _connect(ct);
                    if (fresh.Size != Size)
                    {
                        await fresh.DisposeAsync();
                        throw new BlockDeviceException(BlockDeviceException.EIO, $"{Description} came back with size {fresh.Size}, not {Size}: refusing to mix images");
                    }
                    var down = Stopwatch.GetElapsedTime(Interlocked.Exchange(ref _outageStarted, 0));
                    // The attempts that failed say why the outage lasted: without them a reconnect after a refused
                    // first attempt reads as an unexplained pause.
                    _logger.LogWarning("reconnected to {Source} after {Seconds:0.0} s ({Failed} failed attempts; last: {LastFailure})",
                        Description, down.TotalSeconds, failedAttempts, lastFailure ?? "none");
                    Volatile.Write(ref _current, fresh);
                }
                catch (Exception e) when (e is IOException and not (BlockDeviceException or ImageSourceUnavailableException) or System.Net.Sockets.SocketException)
                {
                    failedAttempts++;
                    lastFailure = e.Message;
                    var left = OutageLimit - Stopwatch.GetElapsedTime(Volatile.Read(ref _outageStarted));
                    if (left <= TimeSpan.Zero)
                        throw new ImageSourceUnavailableException(
                            $"image server {Description} unreachable for {(OutageLimit - left).TotalSeconds:0} s (limit {OutageLimit.TotalSeconds:0} s): {e.Message}", e);
                    await Task.Delay(backoff < left ? backoff : left, ct);
                    backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
                }
            }
            return _current;
        }
        finally
        {
            _reconnect.Release();
        }
    }

    private async Task DropAsync(IImageSource broken, IOException cause)
    {
        if (Interlocked.CompareExchange(ref _current, null, broken) != broken)
            return;
        Interlocked.CompareExchange(ref _outageStarted, Stopwatch.GetTimestamp(), 0);
        _logger.LogWarning("lost {Source}: {Error}; reconnecting (reads wait up to {Limit:0} s)", Description, cause.Message, OutageLimit.TotalSeconds);
        try
        {
            await broken.DisposeAsync();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // The connection is already gone; closing it politely is best effort.
        }
    }
}
