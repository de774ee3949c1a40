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
    /// Fill <paramref name="buffer"/> (exactly <paramref name="chunk"/>'s length) with verified chunk bytes, with every
    /// attempt the options allow; the read is issued and the bytes verified where the fill's priority puts its work
    /// (<see cref="ChunkFill.AtItsPriority"/>).
    /// </summary>
    public async Task FetchAsync(ChunkFill fill, long chunk, Memory<byte> buffer, CancellationToken ct)
    {
        string lastProblem = "";
        SourceMember? previous = null;
        for (int attempt = 1; attempt <= options.FetchAttempts; attempt++)
        {
            if (attempt > 1)
                await Task.Delay(RetryDelay(attempt), ct);
            var member = await sources.AcquireAsync(previous, ct);
            previous = member;
            string? problem = await TryReadAsync(fill, member, chunk, 1, buffer, ct);
            if (problem is null)
            {
                if (RefusedChunks(chunk, 1, buffer.Span) == 0)
                {
                    sources.Succeeded(member, buffer.Length);
                    return;
                }
                statistics.AddVerificationFailure();
                sources.Failed(member, $"chunk {chunk} failed verification");
                problem = "content does not match the manifest hash";
                logger.LogError("chunk {Chunk} from {Source} failed verification (attempt {Attempt}/{Attempts}); discarded",
                    chunk, member.Uri, attempt, options.FetchAttempts);
            }
            else
            {
                logger.LogWarning("fetch of chunk {Chunk} from {Source} failed (attempt {Attempt}/{Attempts}): {Error}",
                    chunk, member.Uri, attempt, options.FetchAttempts, problem);
            }
            lastProblem = problem;
        }
        throw new BlockDeviceException(BlockDeviceException.EIO,
            $"chunk {chunk} could not be fetched from {sources.Description} after {options.FetchAttempts} attempts: {lastProblem}");
    }

    /// <summary>
    /// One read of the fill's run of chunks, each verified on its own. Returns a bit per chunk (the run's first is bit 0)
    /// that is not in <paramref name="buffer"/> verified: every chunk when the read failed, those that failed
    /// verification otherwise; the caller fetches those alone (<see cref="FetchAsync"/>), so a chunk the source cannot
    /// serve costs only itself.
    /// </summary>
    public async Task<ulong> FetchRunAsync(ChunkFill fill, Memory<byte> buffer, CancellationToken ct)
    {
        var member = await sources.AcquireAsync(null, ct);
        string? problem = await TryReadAsync(fill, member, fill.Chunk, fill.Count, buffer, ct);
        if (problem is not null)
        {
            logger.LogWarning("fetch of chunks {First}-{Last} from {Source} failed: {Error}; fetching them one by one",
                fill.Chunk, fill.Chunk + fill.Count - 1, member.Uri, problem);
            return ulong.MaxValue >> (64 - fill.Count);
        }
        ulong refused = RefusedChunks(fill.Chunk, fill.Count, buffer.Span);
        if (refused == 0)
        {
            sources.Succeeded(member, buffer.Length);
            return 0;
        }
        // The chunks that passed are kept, and credited to the source that served them.
        long verifiedBytes = buffer.Length;
        for (long chunk = fill.Chunk; chunk < fill.Chunk + fill.Count; chunk++)
        {
            if ((refused & fill.BitOf(chunk)) == 0)
                continue;
            verifiedBytes -= geometry.ChunkLength(chunk);
            statistics.AddVerificationFailure();
            logger.LogError("chunk {Chunk} from {Source} failed verification; discarded and fetched alone", chunk, member.Uri);
        }
        sources.Failed(member, $"chunk {fill.Chunk + BitOperations.TrailingZeroCount(refused)} failed verification", verifiedBytes);
        return refused;
    }

    /// <summary>
    /// One read of <paramref name="count"/> chunks from <paramref name="first"/> on <paramref name="member"/>; the problem
    /// when it failed in a way another attempt may cure (the source is then counted failed), null when it was read.
    /// </summary>
    private async ValueTask<string?> TryReadAsync(ChunkFill fill, SourceMember member, long first, int count,
        Memory<byte> buffer, CancellationToken ct)
    {
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
            return e.Message;
        }
        catch
        {
            sources.Abandoned(member);
            throw;
        }
        await fill.AtItsPriority();
        return null;
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
                refused |= 1UL << (int)(chunk - first);
            offset += length;
        }
        return refused;
    }

    private TimeSpan RetryDelay(int attempt) =>
        TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << (attempt - 2)));
}
