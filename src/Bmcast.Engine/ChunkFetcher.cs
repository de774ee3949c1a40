using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine.Sources;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine;

/// <summary>
/// Reads one chunk from a source of the set and checks it against the manifest (DESIGN §4 rule 5): bytes that
/// fail verification are never handed on; the fetch is retried (on another source when there are several: the one
/// that failed is marked down, <see cref="SourceSet"/>) and, when every attempt fails, the caller gets an
/// <see cref="IOException"/> naming the chunk. A single source declared unavailable
/// (<see cref="ImageSourceUnavailableException"/>) fails the fetch at once: its outage limit already decided how long
/// to wait; in a set of several that is the set's word, once every source is down.
/// </summary>
internal sealed class ChunkFetcher(SourceSet sources, Manifest? manifest, DiskGeometry geometry,
    StreamingOptions options, StreamingStatistics statistics, ILogger logger)
{
    /// <summary>
    /// Fill <paramref name="buffer"/> (exactly the chunk's length) with verified chunk bytes; the read is issued and
    /// the bytes verified where the fill's priority puts its work (<see cref="ChunkFill.AtItsPriority"/>).
    /// </summary>
    public async Task FetchAsync(ChunkFill fill, Memory<byte> buffer, CancellationToken ct)
    {
        long chunk = fill.Chunk;
        string lastProblem = "";
        SourceMember? previous = null;
        for (int attempt = 1; attempt <= options.FetchAttempts; attempt++)
        {
            if (attempt > 1)
                await Task.Delay(RetryDelay(attempt), ct);
            var member = await sources.AcquireAsync(previous, ct);
            previous = member;
            await fill.AtItsPriority();
            try
            {
                await sources.ReadAsync(member, geometry.ChunkStart(chunk), buffer, ct);
            }
            catch (ImageSourceUnavailableException) when (!sources.CanFailOver)
            {
                sources.Abandoned(member);
                statistics.AddFetchFailure();
                throw;
            }
            catch (IOException e)
            {
                statistics.AddFetchFailure();
                sources.Failed(member, e.Message);
                lastProblem = e.Message;
                logger.LogWarning("fetch of chunk {Chunk} from {Source} failed (attempt {Attempt}/{Attempts}): {Error}",
                    chunk, member.Uri, attempt, options.FetchAttempts, e.Message);
                continue;
            }
            catch
            {
                sources.Abandoned(member);
                throw;
            }
            await fill.AtItsPriority();
            if (manifest is not null && !manifest.Matches(chunk, buffer.Span))
            {
                statistics.AddVerificationFailure();
                lastProblem = "content does not match the manifest hash";
                sources.Failed(member, $"chunk {chunk} failed verification");
                logger.LogError("chunk {Chunk} from {Source} failed verification (attempt {Attempt}/{Attempts}); discarded",
                    chunk, member.Uri, attempt, options.FetchAttempts);
                continue;
            }
            sources.Succeeded(member, buffer.Length);
            return;
        }
        throw new BlockDeviceException(BlockDeviceException.EIO,
            $"chunk {chunk} could not be fetched from {sources.Description} after {options.FetchAttempts} attempts: {lastProblem}");
    }

    private TimeSpan RetryDelay(int attempt) =>
        TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << (attempt - 2)));
}
