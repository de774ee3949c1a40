using Bmcast.Core.Blocks;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.TestKit.Images;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Background runs: adjacent absent chunks fetched in one source read, each verified and written on its own
/// (<see cref="StreamingDisk.EnsureRunAsync"/>), through the real engine.
/// </summary>
public sealed class ChunkRunTests
{
    private const int Chunk = 65536;
    private static readonly DiskGeometry Geometry = new(16 * Chunk);

    [Fact]
    public async Task A_corrupt_chunk_in_the_middle_of_a_run_alone_is_refused_and_fetched_again()
    {
        var ct = TestContext.Current.CancellationToken;
        byte[] image = RandomImage();
        var source = new RecordingSource(image) { CorruptOnce = 3 };
        var (disk, target) = await CreateAsync(source, TestManifest.Of(image, Chunk), ct);

        await disk.EnsureRunAsync(0, 8, out int chunks, ct);

        Assert.Equal(8, chunks);
        Assert.Equal(new (long, int)[] { (0, 8 * Chunk), (3L * Chunk, Chunk) }, source.Reads);
        Assert.Equal(1, disk.Statistics.VerificationFailures);
        Assert.Equal(image.AsSpan(0, 8 * Chunk), target.Snapshot().AsSpan(0, 8 * Chunk));
        Assert.True(disk.Presence.AllPresent(0, Geometry.FirstBlockOfChunk(8)));
        Assert.False(disk.IsChunkPresent(8));
    }

    [Fact]
    public async Task A_chunk_the_source_cannot_serve_fails_alone_and_the_rest_of_its_run_is_written()
    {
        var ct = TestContext.Current.CancellationToken;
        byte[] image = RandomImage();
        var source = new RecordingSource(image) { Unservable = 3 };
        var (disk, target) = await CreateAsync(source, TestManifest.Of(image, Chunk), ct);

        // The copier's wait ends without an error: its first chunk is in; chunk 3 is left for the next pass.
        await disk.EnsureRunAsync(0, 8, out _, ct);

        // The run's read, then each chunk alone: chunk 3 with every attempt.
        int attempts = new StreamingOptions().FetchAttempts;
        var expected = new List<(long, int)> { (0, 8 * Chunk) };
        for (long chunk = 0; chunk < 8; chunk++)
            expected.AddRange(Enumerable.Repeat((chunk * Chunk, Chunk), chunk == 3 ? attempts : 1));
        Assert.Equal(expected, source.Reads);
        for (long chunk = 0; chunk < 8; chunk++)
            Assert.Equal(chunk != 3, disk.IsChunkPresent(chunk));
        var snapshot = target.Snapshot();
        Assert.Equal(image.AsSpan(0, 3 * Chunk), snapshot.AsSpan(0, 3 * Chunk));
        Assert.Equal(image.AsSpan(4 * Chunk, 4 * Chunk), snapshot.AsSpan(4 * Chunk, 4 * Chunk));
        // A guest read of the chunk that cannot be served fails; one of its neighbours reads the image.
        await Assert.ThrowsAsync<BlockDeviceException>(async () => await disk.ReadAsync(3L * Chunk, new byte[4096], ct));
        var neighbour = new byte[Chunk];
        await disk.ReadAsync(4L * Chunk, neighbour, ct);
        Assert.Equal(image.AsSpan(4 * Chunk, Chunk).ToArray(), neighbour);
    }

    [Fact]
    public async Task A_guest_write_into_a_run_in_flight_wins_over_the_image()
    {
        var ct = TestContext.Current.CancellationToken;
        byte[] image = RandomImage();
        var source = new RecordingSource(image) { Held = true };
        var (disk, target) = await CreateAsync(source, TestManifest.Of(image, Chunk), ct);
        var run = disk.EnsureRunAsync(0, 8, out _, ct);
        await source.FirstReadStarted.Task.WaitAsync(ct);

        // Whole blocks of chunk 5: the write needs nothing fetched and completes while the run's read is held.
        long offset = 5L * Chunk + 4096;
        var written = Enumerable.Repeat((byte)0xAB, 8192).ToArray();
        await disk.WriteAsync(offset, written, forceUnitAccess: false, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.False(run.IsCompleted);

        source.Release();
        await run;
        var expected = image.AsSpan(0, 8 * Chunk).ToArray();
        written.CopyTo(expected, offset);
        Assert.Equal(expected, target.Snapshot().AsSpan(0, 8 * Chunk).ToArray());
        var read = new byte[8 * Chunk];
        await disk.ReadAsync(0, read, ct);
        Assert.Equal(expected, read);
    }

    [Fact]
    public async Task A_guest_read_of_a_chunk_in_a_queued_run_promotes_the_whole_run_to_the_source_at_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = new GatedSource(Geometry.Size);
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(Geometry)), Geometry, new byte[32], ct);
        var disk = new StreamingDisk(Geometry, source, null, new CrashableDevice(Geometry.Size), state,
            new StreamingOptions { BackgroundParallelism = 1 }, NullLogger.Instance);
        var first = disk.EnsureChunkAsync(0, FetchPriority.Background, ct);
        var run = disk.EnsureRunAsync(2, 8, out int chunks, ct);
        Assert.Equal(8, chunks);
        await source.WaitForReadsAsync(1, ct);

        // Chunk 6 is in the run (2..9), which waits in line behind chunk 0: the read takes the run to the source.
        var buffer = new byte[4096];
        var read = disk.ReadAsync(6L * Chunk, buffer, ct).AsTask();
        await source.WaitForReadsAsync(2, ct);
        Assert.Equal(new long[] { 0, 2 }, source.Started.Order());
        source.Release(2);
        await Task.WhenAll(read, run);
        Assert.All(buffer, b => Assert.Equal(6, b));
        Assert.Equal(8 * Chunk, disk.Statistics.BytesOnDemand);

        source.Release(0);
        await first;
    }

    [Fact]
    public async Task The_copier_reads_runs_that_end_at_zero_chunks_present_chunks_and_the_run_limit()
    {
        var ct = TestContext.Current.CancellationToken;
        byte[] image = RandomImage();
        Array.Clear(image, 3 * Chunk, Chunk);
        Array.Clear(image, 12 * Chunk, 2 * Chunk);
        var source = new RecordingSource(image);
        var (disk, target) = await CreateAsync(source, TestManifest.WithZeroChunks(image, Chunk), ct);
        await disk.WriteAsync(10L * Chunk, image.AsMemory(10 * Chunk, Chunk), forceUnitAccess: false, ct);

        var options = new StreamingOptions { IdleGap = TimeSpan.Zero, BackgroundRunChunks = 4 };
        var copier = new BackgroundCopier(disk, new BackgroundModerator(new GuestActivity(), options), options, NullLogger.Instance);
        await copier.RunAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

        // 0-2 end at the zero chunk 3 (written without a read), 4-7 at the limit, 8-9 at chunk 10 (the guest wrote it),
        // 11 at the zero chunks 12-13, 14-15 at the end of the disk.
        Assert.Equal(new (long, int)[] { (0, 3 * Chunk), (4L * Chunk, 4 * Chunk), (8L * Chunk, 2 * Chunk), (11L * Chunk, Chunk), (14L * Chunk, 2 * Chunk) },
            source.Reads.Order());
        Assert.Equal(3, disk.Statistics.ZeroChunks);
        Assert.Equal(image, target.Snapshot());
    }

    private static byte[] RandomImage()
    {
        var image = new byte[Geometry.Size];
        new Random(13).NextBytes(image);
        return image;
    }

    private static async Task<(StreamingDisk, CrashableDevice)> CreateAsync(IImageSource source, Manifest manifest, CancellationToken ct)
    {
        var state = await PresenceStateFile.CreateAsync(new CrashableDevice(PresenceStateFile.SizeFor(Geometry)), Geometry, new byte[32], ct);
        var target = new CrashableDevice(Geometry.Size);
        return (new StreamingDisk(Geometry, source, manifest, target, state, new StreamingOptions(), NullLogger.Instance), target);
    }

    /// <summary>
    /// An image in memory that records every read (offset, length); it can corrupt one chunk the first time a read
    /// covers it, fail every read of one chunk, and hold every read until released.
    /// </summary>
    private sealed class RecordingSource(byte[] image) : IImageSource
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long? _corruptOnce;

        public long? CorruptOnce { get => _corruptOnce; init => _corruptOnce = value; }

        public bool Held { get; init; }

        /// <summary>A chunk every read that covers it fails on (as a server that cannot read it answers).</summary>
        public long? Unservable { get; init; }

        public TaskCompletionSource FirstReadStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<(long Offset, int Length)> Reads { get; } = [];

        public long Size => image.Length;

        public string Description => "recording";

        public void Release() => _release.TrySetResult();

        public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            lock (Reads)
                Reads.Add((offset, buffer.Length));
            FirstReadStarted.TrySetResult();
            if (Held)
                await _release.Task.WaitAsync(ct);
            if (Unservable is { } unservable && unservable * Chunk >= offset && unservable * Chunk < offset + buffer.Length)
                throw new IOException($"chunk {unservable} cannot be read");
            image.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
            if (_corruptOnce is { } chunk && chunk * Chunk >= offset && chunk * Chunk < offset + buffer.Length)
            {
                _corruptOnce = null;
                buffer.Span[(int)(chunk * Chunk - offset) + 100] ^= 0x5a;
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
