using System.Numerics;
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
    /// Fill <paramref name="buffer"/> (exactly the length of the fill's chunks) with verified chunk bytes; the read is
    /// issued and the bytes verified where the fill's priority puts its work (<see cref="ChunkFill.AtItsPriority"/>).
    /// A run of chunks is read at once and each chunk verified on its own: one that fails is refetched alone, with
    /// attempts of its own, and the chunks that passed are kept.
    /// </summary>
    public Task FetchAsync(ChunkFill fill, Memory<byte> buffer, CancellationToken ct) =>
        FetchAsync(fill, fill.Chunk, fill.Count, buffer, ct);

    private async Task FetchAsync(ChunkFill fill, long first, int count, Memory<byte> buffer, CancellationToken ct)
    {
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
                await sources.ReadAsync(member, geometry.ChunkStart(first), buffer, ct);
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
                logger.LogWarning("fetch of chunk {Chunk} ({Count} chunks) from {Source} failed (attempt {Attempt}/{Attempts}): {Error}",
                    first, count, member.Uri, attempt, options.FetchAttempts, e.Message);
                continue;
            }
            catch
            {
                sources.Abandoned(member);
                throw;
            }
            await fill.AtItsPriority();
            ulong refused = RefusedChunks(first, count, buffer.Span);
            if (refused == 0)
            {
                sources.Succeeded(member, buffer.Length);
                return;
            }
            statistics.AddVerificationFailure();
            long firstRefused = first + BitOperations.TrailingZeroCount(refused);
            if (count == 1)
            {
                sources.Failed(member, $"chunk {first} failed verification");
                lastProblem = "content does not match the manifest hash";
                logger.LogError("chunk {Chunk} from {Source} failed verification (attempt {Attempt}/{Attempts}); discarded",
                    first, member.Uri, attempt, options.FetchAttempts);
                continue;
            }
            // The run's chunks that passed are kept (and credited to the source that served them); the rest go again alone.
            long verifiedBytes = buffer.Length;
            for (long chunk = first; chunk < first + count; chunk++)
                if ((refused & Bit(first, chunk)) != 0)
                    verifiedBytes -= geometry.ChunkLength(chunk);
            sources.Failed(member, $"chunk {firstRefused} failed verification", verifiedBytes);
            for (long chunk = first; chunk < first + count; chunk++)
            {
                if ((refused & Bit(first, chunk)) == 0)
                    continue;
                if (chunk != firstRefused)
                    statistics.AddVerificationFailure();
                logger.LogError("chunk {Chunk} from {Source} failed verification; discarded and fetched alone", chunk, member.Uri);
                await FetchAsync(fill, chunk, 1, buffer.Slice((int)(geometry.ChunkStart(chunk) - geometry.ChunkStart(first)), geometry.ChunkLength(chunk)), ct);
            }
            return;
        }
        throw new BlockDeviceException(BlockDeviceException.EIO,
            $"chunk {first} could not be fetched from {sources.Description} after {options.FetchAttempts} attempts: {lastProblem}");
    }

    /// <summary>A bit per chunk of the run (at most <see cref="ChunkFill.MaxCount"/>) whose bytes do not match the manifest; none without one.</summary>
    private ulong RefusedChunks(long first, int count, ReadOnlySpan<byte> bytes)
    {
        ulong refused = 0;
        if (manifest is null)
            return refused;
        int offset = 0;
        for (long chunk = first; chunk < first + count; chunk++)
        {
            int length = geometry.ChunkLength(chunk);
            if (!manifest.Matches(chunk, bytes.Slice(offset, length)))
                refused |= Bit(first, chunk);
            offset += length;
        }
        return refused;
    }

    private static ulong Bit(long first, long chunk) => 1UL << (int)(chunk - first);

    private TimeSpan RetryDelay(int attempt) =>
        TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << (attempt - 2)));
}
