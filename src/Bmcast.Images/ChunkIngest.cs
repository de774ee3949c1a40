using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using Bmcast.Core.Manifests;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// Cuts a raw file into chunks: the file is read in order, only its allocated ranges (holes are zeros
/// without I/O), and a worker per core hashes each chunk and adds it to the batch unless it is all
/// zero. Workers pull chunks straight from the reading enumerator (Parallel.ForEach without
/// buffering) rather than through an async channel: per-chunk thread-pool hops made the runtime spin
/// in sched_yield for more time than hashing took.
/// </summary>
internal static class ChunkIngest
{
    public sealed class Result(long chunkCount)
    {
        public bool[] Zero { get; } = new bool[chunkCount];
        public byte[] Hashes { get; } = new byte[checked((int)(chunkCount * Manifest.HashSize))];
        public long StoredBytes;
        public long DataBytesRead;
    }

    private readonly record struct Job(long Chunk, byte[] Buffer, int Length);

    public static Result Run(SafeFileHandle source, long size, int chunkSize, IChunkBatch chunks,
        Action<long>? progress, CancellationToken cancellationToken)
    {
        var result = new Result(Manifest.ChunkCountFor(size, chunkSize));
        var jobs = Partitioner.Create(Read(source, size, chunkSize, result, progress), EnumerablePartitionerOptions.NoBuffering);
        var options = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount };
        try
        {
            Parallel.ForEach(jobs, options, job =>
            {
                try
                {
                    Store(job, chunks, result);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(job.Buffer);
                }
            });
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
        return result;
    }

    /// <summary>The chunks holding allocated data, in order; chunks entirely in holes are marked zero on the way.</summary>
    private static IEnumerable<Job> Read(SafeFileHandle source, long size, int chunkSize, Result result, Action<long>? progress)
    {
        var data = SparseFile.DataRanges(source, size);
        int next = 0; // first data range that may overlap the current chunk
        for (long chunk = 0; chunk < result.Zero.Length; chunk++)
        {
            long start = chunk * chunkSize;
            int length = (int)Math.Min(chunkSize, size - start);
            long end = start + length;
            while (next < data.Count && data[next].End <= start)
                next++;
            progress?.Invoke(end);
            if (next == data.Count || data[next].Start >= end)
            {
                result.Zero[chunk] = true;
                continue;
            }
            byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
            result.DataBytesRead += ReadAllocated(source, data, next, start, buffer.AsSpan(0, length));
            yield return new Job(chunk, buffer, length);
        }
    }

    /// <summary>Fill <paramref name="destination"/> (the chunk at <paramref name="start"/>) from the data ranges it overlaps.</summary>
    private static long ReadAllocated(SafeFileHandle source, List<FileRange> data, int first, long start, Span<byte> destination)
    {
        destination.Clear();
        long end = start + destination.Length;
        long read = 0;
        for (int i = first; i < data.Count && data[i].Start < end; i++)
        {
            long from = Math.Max(start, data[i].Start);
            long to = Math.Min(end, data[i].End);
            var part = destination.Slice((int)(from - start), (int)(to - from));
            while (!part.IsEmpty)
            {
                int n = RandomAccess.Read(source, part, from);
                if (n == 0)
                    throw new IOException("the source file shrank while it was being imported");
                part = part[n..];
                from += n;
                read += n;
            }
        }
        return read;
    }

    private static void Store(Job job, IChunkBatch chunks, Result result)
    {
        var data = job.Buffer.AsSpan(0, job.Length);
        if (!data.ContainsAnyExcept((byte)0))
        {
            result.Zero[job.Chunk] = true;
            return;
        }
        var hash = result.Hashes.AsSpan((int)(job.Chunk * Manifest.HashSize), Manifest.HashSize);
        SHA256.HashData(data, hash);
        Interlocked.Add(ref result.StoredBytes, job.Length);
        chunks.Add(hash, data);
    }
}
