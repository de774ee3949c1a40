using System.Buffers;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Presence;
using Bmcast.Core.Storage;
using Bmcast.Engine.Sources;
using Microsoft.Extensions.Logging;

namespace Bmcast.Engine;

/// <summary>
/// The streaming engine as a block device: the target disk, usable at once, with every block that
/// is not yet local fetched from the image source on first read (copy-on-read), verified, and
/// written locally before the read completes. Guest writes go to the target and mark their blocks
/// present; FLUSH and FUA commit the presence map after the data (DESIGN §4).
///
/// Invariant: a block is marked present in memory only after its final content has been written to
/// the target; <see cref="PresenceStateFile"/> persists bits only after flushing the target.
///
/// Target failures (ENOSPC, EIO) fail only the request that met them, with their errno; a failed
/// flush of the target also takes back the blocks it may have lost (<see cref="PresenceStateFile"/>).
/// </summary>
public sealed class StreamingDisk : IBlockDevice
{
    private readonly DiskGeometry _geometry;
    private readonly IBlockDevice _target;
    private readonly PresenceStateFile _state;
    private readonly Manifest? _manifest;
    private readonly ChunkFetcher _fetcher;
    private readonly ChunkLocks _locks = new();
    private readonly Dictionary<long, ChunkFill> _fills = [];
    private readonly SourceQueue _sourceQueue;
    /// <summary>
    /// A fetch's buffer (a chunk, or a background run of them). Not <see cref="ArrayPool{T}.Shared"/>: that pool keeps
    /// a few arrays per core, so when fetches rent on one core and return on another it drops some and allocates
    /// others, a new 64 KiB array now and then (seen as 230 to 860 B per miss across equal stretches of misses).
    /// This one keeps what it lent, up to <see cref="FetchBuffersPerSize"/> of each size, for the disk's life.
    /// </summary>
    private readonly ArrayPool<byte> _fetchBuffers = ArrayPool<byte>.Create(FetchBufferLimit, FetchBuffersPerSize);
    private readonly TaskCompletionSource _allPresent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogger _logger;

    public StreamingDisk(DiskGeometry geometry, IImageSource source, Manifest? manifest, IBlockDevice target,
        PresenceStateFile state, StreamingOptions options, ILogger logger)
    {
        if (source.Size != geometry.Size || target.Size < geometry.Size)
            throw new ArgumentException($"source ({source.Size} bytes) and target ({target.Size} bytes) must match the disk size {geometry.Size}");
        if (manifest is not null && (manifest.ImageSize != geometry.Size || manifest.ChunkSize != geometry.ChunkSize))
            throw new ArgumentException("manifest geometry does not match the disk");
        _geometry = geometry;
        _target = target;
        _state = state;
        _manifest = manifest;
        _logger = logger;
        Sources = SourceSet.Of(source);
        _fetcher = new ChunkFetcher(Sources, manifest, geometry, options, Statistics, logger);
        _sourceQueue = new SourceQueue(options.BackgroundParallelism);
        if (Presence.IsComplete)
            _allPresent.TrySetResult();
    }

    /// <summary>The longest run <see cref="EnsureRunAsync"/> makes.</summary>
    public const int MaxRunChunks = ChunkFill.MaxCount;

    /// <summary>The largest fetch buffer kept for reuse: a background run of 8 chunks of 64 KiB is 512 KiB; larger fetches allocate.</summary>
    private const int FetchBufferLimit = 1 << 20;

    /// <summary>How many buffers of one size are kept: about as many fetches as are ever in flight on one disk.</summary>
    private const int FetchBuffersPerSize = 16;

    public long Size => _geometry.Size;

    public DiskGeometry Geometry => _geometry;

    public BlockDeviceCapabilities Capabilities =>
        BlockDeviceCapabilities.Writable | BlockDeviceCapabilities.Flush | BlockDeviceCapabilities.ForceUnitAccess
        | BlockDeviceCapabilities.WriteZeroes | BlockDeviceCapabilities.MultiConnection;

    public PresenceMap Presence => _state.Map;

    public StreamingStatistics Statistics { get; } = new();

    /// <summary>The sources chunks are fetched from, with the bytes each served.</summary>
    public SourceSet Sources { get; }

    public GuestActivity Activity { get; } = new();

    /// <summary>Chunks the guest waited for, in the order it first needed them.</summary>
    public BootProfile OnDemandOrder { get; } = new();

    /// <summary>
    /// Completes when every block is present (not yet necessarily committed: see <see cref="CommitAsync"/>,
    /// whose failure may take blocks back).
    /// </summary>
    public Task AllPresent => _allPresent.Task;

    /// <summary>True when filling the chunk needs no transfer: the manifest says it is all zero.</summary>
    public bool IsKnownZeroChunk(long chunk) => _manifest is not null && _manifest.IsZeroChunk(chunk);

    public bool IsChunkPresent(long chunk) =>
        Presence.AllPresent(_geometry.FirstBlockOfChunk(chunk), _geometry.BlockCountOfChunk(chunk));

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        Activity.NoteIo();
        await EnsureBlocksAsync(_geometry.BlockOf(offset), _geometry.BlockOf(offset + buffer.Length - 1), ct);
        await _target.ReadAsync(offset, buffer, ct);
        Statistics.AddGuestRead(buffer.Length);
    }

    /// <summary>A read of present blocks from a target that reads at once: the hit path, with no fetch to wait for.</summary>
    public bool TryRead(long offset, Span<byte> buffer)
    {
        if (!IsPresent(offset, buffer.Length) || !_target.TryRead(offset, buffer))
            return false;
        NoteHit(buffer.Length);
        return true;
    }

    /// <summary>Present blocks lie in the target: the hit path of <see cref="TryRead"/>, for a front end that sends them itself.</summary>
    public bool TryLocateInFile(long offset, int length, out FilePosition position)
    {
        position = default;
        if (!IsPresent(offset, length) || !_target.TryLocateInFile(offset, length, out position))
            return false;
        NoteHit(length);
        return true;
    }

    private bool IsPresent(long offset, int length)
    {
        long first = _geometry.BlockOf(offset);
        return Presence.AllPresent(first, _geometry.BlockOf(offset + length - 1) - first + 1);
    }

    private void NoteHit(int length)
    {
        Activity.NoteIo();
        Statistics.AddGuestRead(length);
    }

    public int DescribeAllocation(long offset, long length, Span<AllocationExtent> extents) =>
        StreamingAllocation.Describe(_geometry, Presence, _manifest, _target, offset, length, extents);

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool forceUnitAccess, CancellationToken ct)
    {
        Activity.NoteIo();
        await WriteCoreAsync(offset, data, ct);
        Statistics.AddGuestWrite(data.Length);
        if (forceUnitAccess)
        {
            EngineMetrics.RecordGuestFlush();
            await CommitForGuestAsync(ct);
        }
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool forceUnitAccess, CancellationToken ct)
    {
        Activity.NoteIo();
        long end = offset + length;
        // Bring in partly covered edge blocks first, so a failed fetch leaves the disk untouched.
        await EnsurePartialEdgeBlocksAsync(offset, length, ct);
        long bodyStart = AlignUp(offset);
        long bodyEnd = end == Size ? Size : AlignDown(end);
        if (bodyStart >= bodyEnd)
        {
            await WriteCoreAsync(offset, new byte[length], ct);
        }
        else
        {
            // Partly covered edge blocks are ordinary writes of zeroes; whole blocks are zeroed in place.
            if (bodyStart > offset)
                await WriteCoreAsync(offset, new byte[bodyStart - offset], ct);
            await ForEachChunkPieceAsync(bodyStart, bodyEnd, (start, pieceEnd) =>
                _target.WriteZeroesAsync(start, pieceEnd - start, false, ct), ct);
            if (end > bodyEnd)
                await WriteCoreAsync(bodyEnd, new byte[end - bodyEnd], ct);
        }
        Statistics.AddGuestWrite(length);
        if (forceUnitAccess)
        {
            EngineMetrics.RecordGuestFlush();
            await CommitForGuestAsync(ct);
        }
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Activity.NoteIo();
        EngineMetrics.RecordGuestFlush();
        return new ValueTask(CommitForGuestAsync(ct));
    }

    /// <summary>Make all data durable and persist the presence map (DESIGN §4 rules 2 and 4): the periodic commit.</summary>
    public Task CommitAsync(CancellationToken ct) => _state.CommitAsync(_target, forGuest: false, ct);

    /// <summary>
    /// Bring a chunk's absent blocks to their image content. Concurrent callers for the same chunk
    /// share one <see cref="ChunkFill"/>, so an on-demand read of a chunk the background copier is
    /// already fetching waits for that fetch instead of repeating it, and raises it to on-demand.
    /// </summary>
    public Task EnsureChunkAsync(long chunk, FetchPriority priority, CancellationToken ct)
    {
        if (IsChunkPresent(chunk))
            return Task.CompletedTask;
        var fill = Enter(chunk, 1, priority, out bool started);
        return AwaitFillAsync(chunk, fill, started, priority, ct);
    }

    /// <summary>
    /// A background fill of <paramref name="firstChunk"/> and of up to <paramref name="maxChunks"/> - 1 chunks after
    /// it that are absent, of its kind (zero chunks or chunks that hold data) and no other fill has: for data, one
    /// source read for all of them, each verified on its own (a chunk that fails is refetched alone); each chunk
    /// written under its own chunk lock.
    /// <paramref name="chunks"/> says how many the fill covers (1 when the first chunk was present or already being
    /// filled: the call then joins that fill).
    /// </summary>
    public Task EnsureRunAsync(long firstChunk, int maxChunks, out int chunks, CancellationToken ct)
    {
        chunks = 1;
        if (IsChunkPresent(firstChunk))
            return Task.CompletedTask;
        var fill = Enter(firstChunk, maxChunks, FetchPriority.Background, out bool started);
        if (started)
            chunks = fill.Count;
        return AwaitFillAsync(firstChunk, fill, started, FetchPriority.Background, ct);
    }

    /// <summary>The fill of <paramref name="chunk"/>: the one in flight, or a new one started here.</summary>
    private ChunkFill Enter(long chunk, int maxChunks, FetchPriority priority, out bool started)
    {
        lock (_fills)
        {
            if (_fills.TryGetValue(chunk, out var fill))
            {
                started = false;
                return fill;
            }
            // A run is all zero chunks (written without a transfer) or all chunks that hold data (one source read).
            bool zero = IsKnownZeroChunk(chunk);
            int count = 1;
            while (count < Math.Min(maxChunks, ChunkFill.MaxCount) && chunk + count < _geometry.ChunkCount && !_fills.ContainsKey(chunk + count)
                   && IsKnownZeroChunk(chunk + count) == zero && !IsChunkPresent(chunk + count))
                count++;
            // A background fill started by the copier does its work on the copier's low-priority workers.
            fill = new ChunkFill(chunk, count, priority, priority == FetchPriority.Background ? LowPriorityScheduler.OfCurrentThread : null);
            for (int i = 0; i < count; i++)
                _fills.Add(chunk + i, fill);
            started = true;
            return fill;
        }
    }

    private async Task AwaitFillAsync(long chunk, ChunkFill fill, bool started, FetchPriority priority, CancellationToken ct)
    {
        if (priority == FetchPriority.OnDemand)
        {
            OnDemandOrder.Record(chunk);
            Activity.BeginOnDemandFetch();
            if (!started)
                _sourceQueue.Promote(fill);
        }
        try
        {
            // Started outside the table's lock: it may run to its end on this thread (no hop).
            if (started)
                _ = RunAsync(fill);
            await (ct.CanBeCanceled ? fill.Completion.WaitAsync(ct) : fill.Completion);
        }
        catch (IOException) when (IsChunkPresent(chunk))
        {
            // A run that failed on other chunks brought this one in (or a guest write did meanwhile).
        }
        finally
        {
            if (priority == FetchPriority.OnDemand)
                Activity.EndOnDemandFetch();
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A guest FLUSH or FUA: fails also when an earlier commit's flush of the target failed unheard.</summary>
    private Task CommitForGuestAsync(CancellationToken ct) => _state.CommitAsync(_target, forGuest: true, ct);

    /// <summary>Take a fill through its states; it leaves the table before it completes (see <see cref="ChunkFill"/>).</summary>
    private async Task RunAsync(ChunkFill fill)
    {
        // Off the copier's own task (see LowPriorityScheduler) before anything is awaited.
        await fill.AtItsPriority();
        Exception? error = null;
        try
        {
            await FetchAndFillAsync(fill);
        }
        catch (Exception e)
        {
            error = e;
        }
        lock (_fills)
            for (int i = 0; i < fill.Count; i++)
                _fills.Remove(fill.Chunk + i);
        if (error is null)
            fill.Complete();
        else
            fill.Fail(error);
    }

    private async Task FetchAndFillAsync(ChunkFill fill)
    {
        long first = fill.Chunk;
        if (IsKnownZeroChunk(first))
        {
            for (long chunk = first; chunk < first + fill.Count; chunk++)
            {
                Statistics.AddZeroChunk();
                await FillAbsentBlocksAsync(fill, chunk, null);
            }
            return;
        }
        int length = (int)(_geometry.ChunkStart(first + fill.Count - 1) + _geometry.ChunkLength(first + fill.Count - 1) - _geometry.ChunkStart(first));
        byte[] buffer = _fetchBuffers.Rent(length);
        ulong missing = 0;
        ExceptionDispatchInfo? failure = null;
        try
        {
            await _sourceQueue.EnterAsync(fill);
            try
            {
                fill.BeginFetching();
                long started = Stopwatch.GetTimestamp();
                // Not cancellable: other callers may share this fetch; each stops waiting on its own token.
                if (fill.Count == 1)
                    await _fetcher.FetchAsync(fill, first, buffer.AsMemory(0, length), CancellationToken.None);
                else
                    missing = await _fetcher.FetchRunAsync(fill, buffer.AsMemory(0, length), CancellationToken.None);
                EngineMetrics.RecordFetchDuration(fill.Priority, Stopwatch.GetElapsedTime(started));
                // A run's chunks that did not arrive verified go alone, in the run's turn at the source: a chunk the
                // source cannot serve then costs only itself, and the run's other chunks are written.
                for (long chunk = first; chunk < first + fill.Count && missing != 0; chunk++)
                {
                    if ((missing & fill.BitOf(chunk)) == 0)
                        continue;
                    try
                    {
                        await _fetcher.FetchAsync(fill, chunk, ChunkIn(buffer, first, chunk), CancellationToken.None);
                        missing &= ~fill.BitOf(chunk);
                    }
                    catch (IOException e) when (e is not ImageSourceUnavailableException)
                    {
                        failure ??= ExceptionDispatchInfo.Capture(e);
                    }
                }
            }
            finally
            {
                _sourceQueue.Leave(fill);
            }
            Statistics.AddFetched(fill.Priority, length);
            for (long chunk = first; chunk < first + fill.Count; chunk++)
                if ((missing & fill.BitOf(chunk)) == 0)
                    await FillAbsentBlocksAsync(fill, chunk, ChunkIn(buffer, first, chunk));
        }
        finally
        {
            _fetchBuffers.Return(buffer);
        }
        // Its waiters whose chunk was written do not see this (AwaitFillAsync).
        failure?.Throw();
    }

    /// <summary>The bytes of <paramref name="chunk"/> in a buffer that holds a run from <paramref name="first"/> on.</summary>
    private Memory<byte> ChunkIn(byte[] buffer, long first, long chunk) =>
        buffer.AsMemory((int)(_geometry.ChunkStart(chunk) - _geometry.ChunkStart(first)), _geometry.ChunkLength(chunk));

    /// <summary>Write image content into the chunk's blocks that are still absent; null content means zeroes.</summary>
    private async Task FillAbsentBlocksAsync(ChunkFill fill, long chunk, ReadOnlyMemory<byte>? content)
    {
        long firstBlock = _geometry.FirstBlockOfChunk(chunk);
        int blocks = _geometry.BlockCountOfChunk(chunk);
        long chunkStart = _geometry.ChunkStart(chunk);
        using (await _locks.AcquireAsync(chunk, CancellationToken.None))
        {
            await fill.AtItsPriority();
            fill.BeginFilling(_state.FailedFlushes);
            for (int i = 0; i < blocks;)
            {
                long absentRun = Presence.RunLength(firstBlock + i, blocks - i, present: false);
                if (absentRun == 0)
                {
                    i += (int)Presence.RunLength(firstBlock + i, blocks - i, present: true);
                    continue;
                }
                long start = (firstBlock + i) * _geometry.BlockSize;
                long end = _geometry.BlockEnd(firstBlock + i + absentRun - 1);
                if (content is not { } bytes)
                    await _target.WriteZeroesAsync(start, end - start, false, CancellationToken.None);
                else
                    await _target.WriteAsync(start, bytes.Slice((int)(start - chunkStart), (int)(end - start)), false, CancellationToken.None);
                MarkPresent(start, end, fill.FlushEpoch);
                i += (int)absentRun;
            }
        }
    }

    /// <summary>A write that covers only part of an absent block must first bring in the rest of it.</summary>
    private async Task EnsurePartialEdgeBlocksAsync(long offset, long length, CancellationToken ct)
    {
        long end = offset + length;
        long head = _geometry.BlockOf(offset);
        long tail = _geometry.BlockOf(end - 1);
        bool headPartial = offset % _geometry.BlockSize != 0 || end < _geometry.BlockEnd(head);
        bool tailPartial = end < _geometry.BlockEnd(tail);
        if (headPartial && !Presence.IsPresent(head))
            await EnsureChunkAsync(_geometry.ChunkOf(offset), FetchPriority.OnDemand, ct);
        if (tailPartial && tail != head && !Presence.IsPresent(tail))
            await EnsureChunkAsync(_geometry.ChunkOf(end - 1), FetchPriority.OnDemand, ct);
    }

    private async Task EnsureBlocksAsync(long firstBlock, long lastBlock, CancellationToken ct)
    {
        if (Presence.AllPresent(firstBlock, lastBlock - firstBlock + 1))
            return;
        long firstChunk = firstBlock / _geometry.BlocksPerChunk;
        long lastChunk = lastBlock / _geometry.BlocksPerChunk;
        if (firstChunk == lastChunk)
        {
            await EnsureChunkAsync(firstChunk, FetchPriority.OnDemand, ct);
            return;
        }
        var fetches = new List<Task>();
        for (long chunk = firstChunk; chunk <= lastChunk; chunk++)
            if (!IsChunkPresent(chunk))
                fetches.Add(EnsureChunkAsync(chunk, FetchPriority.OnDemand, ct));
        await Task.WhenAll(fetches);
    }

    /// <summary>
    /// Mark the blocks of [start, end), written while <see cref="PresenceStateFile.FailedFlushes"/> was
    /// <paramref name="failedFlushes"/>, present; callers guarantee partial edge blocks already were.
    /// </summary>
    private void MarkPresent(long start, long end, long failedFlushes)
    {
        long first = _geometry.BlockOf(start);
        long last = _geometry.BlockOf(end - 1);
        if (!_state.TryMarkPresent(first, last - first + 1, failedFlushes))
            throw new BlockDeviceException(BlockDeviceException.EIO,
                $"a flush of the target failed while {start}+{end - start} was being written: it may be lost");
        if (Presence.IsComplete)
            _allPresent.TrySetResult();
    }

    private async Task WriteCoreAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await EnsurePartialEdgeBlocksAsync(offset, data.Length, ct);
        await ForEachChunkPieceAsync(offset, offset + data.Length, (start, pieceEnd) =>
            _target.WriteAsync(start, data.Slice((int)(start - offset), (int)(pieceEnd - start)), false, ct), ct);
    }

    /// <summary>
    /// Apply a guest modification chunk by chunk, each under its chunk lock so a concurrent fill
    /// cannot see the blocks absent and then overwrite them (DESIGN §4 rule 3).
    /// </summary>
    private async Task ForEachChunkPieceAsync(long start, long end, Func<long, long, ValueTask> modify, CancellationToken ct)
    {
        for (long position = start; position < end;)
        {
            long chunk = _geometry.ChunkOf(position);
            long pieceEnd = Math.Min(end, _geometry.ChunkStart(chunk) + _geometry.ChunkSize);
            using (await _locks.AcquireAsync(chunk, ct))
            {
                long failedFlushes = _state.FailedFlushes;
                await modify(position, pieceEnd);
                MarkPresent(position, pieceEnd, failedFlushes);
            }
            position = pieceEnd;
        }
    }

    private long AlignUp(long offset) => (offset + _geometry.BlockSize - 1) / _geometry.BlockSize * _geometry.BlockSize;
    private long AlignDown(long offset) => offset / _geometry.BlockSize * _geometry.BlockSize;
}
