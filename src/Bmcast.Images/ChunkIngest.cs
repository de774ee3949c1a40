using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using Bmcast.Core.Manifests;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// Cuts a raw file into chunks: one reader walks the file in order, reading only its allocated ranges
/// (holes are zeros without I/O), and a worker per core hashes each chunk and stores it unless it is
/// all zero or already present. Chunks are independent, so workers finish in any order.
/// </summary>
internal static class ChunkIngest
{
    public sealed class Result(long chunkCount)
    {
        public bool[] Zero { get; } = new bool[chunkCount];
        public byte[] Hashes { get; } = new byte[checked((int)(chunkCount * Manifest.HashSize))];
        public long NewChunks;
        public long NewBytes;
        public long StoredBytes;
        public long DataBytesRead;
    }

    private readonly record struct Job(long Chunk, byte[] Buffer, int Length);

    public static async Task<Result> RunAsync(SafeFileHandle source, long size, int chunkSize, ChunkStore chunks,
        Action<long>? progress, CancellationToken cancellationToken)
    {
        var result = new Result(Manifest.ChunkCountFor(size, chunkSize));
        int workers = Math.Max(1, Environment.ProcessorCount);
        var channel = Channel.CreateBounded<Job>(new BoundedChannelOptions(workers * 2) { SingleWriter = true });
        // Whichever side fails first stops the others, so a full disk does not leave the reader
        // blocked on a channel nobody drains.
        using var failure = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        async Task Guard(Func<Task> body)
        {
            try
            {
                await body();
            }
            catch
            {
                await failure.CancelAsync();
                throw;
            }
        }

        var tasks = new List<Task>
        {
            Task.Run(() => Guard(() => ReadAsync(source, size, chunkSize, result, channel.Writer, progress, failure.Token))),
        };
        for (int i = 0; i < workers; i++)
            tasks.Add(Task.Run(() => Guard(() => StoreAsync(channel.Reader, chunks, result, failure.Token))));
        try
        {
            await Task.WhenAll(tasks);
        }
        catch
        {
            cancellationToken.ThrowIfCancellationRequested();
            var cause = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!)
                .FirstOrDefault(e => e is not OperationCanceledException);
            if (cause is not null)
                ExceptionDispatchInfo.Throw(cause);
            throw;
        }
        return result;
    }

    private static async Task ReadAsync(SafeFileHandle source, long size, int chunkSize, Result result,
        ChannelWriter<Job> output, Action<long>? progress, CancellationToken cancellationToken)
    {
        try
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
                if (next == data.Count || data[next].Start >= end)
                {
                    result.Zero[chunk] = true;
                }
                else
                {
                    byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
                    result.DataBytesRead += ReadAllocated(source, data, next, start, buffer.AsSpan(0, length));
                    await output.WriteAsync(new Job(chunk, buffer, length), cancellationToken);
                }
                progress?.Invoke(end);
            }
        }
        finally
        {
            output.Complete();
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

    private static async Task StoreAsync(ChannelReader<Job> input, ChunkStore chunks, Result result, CancellationToken cancellationToken)
    {
        await foreach (var job in input.ReadAllAsync(cancellationToken))
        {
            try
            {
                Store(job, chunks, result);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(job.Buffer);
            }
        }
    }

    private static void Store(Job job, ChunkStore chunks, Result result)
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
        if (chunks.Add(hash, data))
        {
            Interlocked.Increment(ref result.NewChunks);
            Interlocked.Add(ref result.NewBytes, job.Length);
        }
    }
}
