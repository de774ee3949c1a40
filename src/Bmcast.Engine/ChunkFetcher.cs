using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine.Sources;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine;

/// <summary>
/// Reads one chunk from the source and checks it against the manifest (DESIGN §4 rule 5): bytes that
/// fail verification are never handed on; the fetch is retried and, when every attempt fails, the
/// caller gets an <see cref="IOException"/> naming the chunk. A source that is declared unavailable
/// (<see cref="ImageSourceUnavailableException"/>) fails the fetch at once: its outage limit already
/// decided how long to wait.
/// </summary>
internal sealed class ChunkFetcher(IImageSource source, Manifest? manifest, DiskGeometry geometry,
    StreamingOptions options, StreamingStatistics statistics, ILogger logger)
{
    /// <summary>Fill <paramref name="buffer"/> (exactly the chunk's length) with verified chunk bytes.</summary>
    public async Task FetchAsync(long chunk, Memory<byte> buffer, CancellationToken ct)
    {
        string lastProblem = "";
        for (int attempt = 1; attempt <= options.FetchAttempts; attempt++)
        {
            if (attempt > 1)
                await Task.Delay(RetryDelay(attempt), ct);
            try
            {
                await source.ReadAsync(geometry.ChunkStart(chunk), buffer, ct);
            }
            catch (ImageSourceUnavailableException)
            {
                statistics.AddFetchFailure();
                throw;
            }
            catch (IOException e)
            {
                statistics.AddFetchFailure();
                lastProblem = e.Message;
                logger.LogWarning("fetch of chunk {Chunk} from {Source} failed (attempt {Attempt}/{Attempts}): {Error}",
                    chunk, source.Description, attempt, options.FetchAttempts, e.Message);
                continue;
            }
            if (manifest is not null && !manifest.Matches(chunk, buffer.Span))
            {
                statistics.AddVerificationFailure();
                lastProblem = "content does not match the manifest hash";
                logger.LogError("chunk {Chunk} from {Source} failed verification (attempt {Attempt}/{Attempts}); discarded",
                    chunk, source.Description, attempt, options.FetchAttempts);
                continue;
            }
            return;
        }
        throw new BlockDeviceException(BlockDeviceException.EIO,
            $"chunk {chunk} could not be fetched from {source.Description} after {options.FetchAttempts} attempts: {lastProblem}");
    }

    private TimeSpan RetryDelay(int attempt) =>
        TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << (attempt - 2)));
}
