using System.Diagnostics;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Engine.Sources;
using Bmcast.TestKit.Images;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// Several sources of one image (issue 14) in the engine: fetches go to the healthy source with the fewest in flight,
/// a source that fails or serves wrong bytes is marked down and its fetches retried on the others, and only when all
/// are down do reads wait out the outage limit. The end-to-end tests (<c>MultiSourceTests</c>) do the same with real
/// servers.
/// </summary>
public sealed class SourceSetTests
{
    private const int ChunkSize = 65536;
    private static readonly StreamingOptions Options = new() { IdleGap = TimeSpan.Zero, CommitInterval = TimeSpan.FromMilliseconds(100) };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Each_fetch_goes_to_an_up_source_with_the_fewest_in_flight_and_all_down_is_refused_at_once(int seed)
    {
        var random = new Random(seed);
        // Sources that never answer: a source marked down stays down (its probes fail).
        var dead = Enumerable.Range(0, 4).Select(i => new FaultyMemorySource(new byte[ChunkSize], i) { FailureRate = 1 }).ToArray();
        await using var set = new SourceSet(dead, TimeSpan.Zero, NullLogger.Instance);
        var held = new List<SourceMember>();
        for (int step = 0; step < 400; step++)
        {
            var up = set.Members.Where(m => !m.Down).ToList();
            int op = random.Next(4);
            if (op == 0 && held.Count > 0)
            {
                var member = held[random.Next(held.Count)];
                held.Remove(member);
                set.Succeeded(member, random.Next(1, 3) * ChunkSize);
            }
            else if (op == 1 && held.Count > 0 && random.Next(20) == 0)
            {
                var member = held[random.Next(held.Count)];
                held.Remove(member);
                set.Failed(member, "injected");
                Assert.True(member.Down);
            }
            else if (up.Count == 0)
            {
                await Assert.ThrowsAsync<ImageSourceUnavailableException>(async () => await set.AcquireAsync(null, Ct));
                break;
            }
            else
            {
                var avoid = random.Next(3) == 0 ? up[random.Next(up.Count)] : null;
                var candidates = up.Count > 1 && avoid is not null ? up.Where(m => m != avoid).ToList() : up;
                int fewest = candidates.Min(m => m.Outstanding);
                var picked = await set.AcquireAsync(avoid, Ct);
                Assert.Contains(picked, candidates);
                Assert.Equal(fewest, picked.Outstanding - 1);
                held.Add(picked);
            }
        }
        Assert.Equal(held.Count, set.Members.Sum(m => m.Outstanding));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_source_that_dies_mid_stream_is_marked_down_and_the_deployment_completes_from_the_other()
    {
        var (image, manifest) = Image(64);
        var dying = new FaultyMemorySource(image, 1);
        var healthy = new FaultyMemorySource(image, 2);
        using var dir = new TempDirectory();
        await using var set = new SourceSet([dying, healthy], TimeSpan.FromSeconds(30), NullLogger.Instance);
        await using var session = await StreamingSession.OpenAsync(set, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        // Sequential guest reads alternate between the two sources (equal load, fewer bytes first).
        var buffer = new byte[ChunkSize];
        for (int chunk = 0; chunk < 8; chunk++)
            await session.Disk.ReadAsync(chunk * ChunkSize, buffer, Ct);
        Assert.All(set.Tallies(), tally => Assert.Equal(4L * ChunkSize, tally.Bytes));

        dying.FailureRate = 1;
        await session.RunToCompletionAsync(Ct);

        Assert.Equal(image, await File.ReadAllBytesAsync(dir.File("target"), Ct));
        var tallies = set.Tallies();
        Assert.True(tallies[0].Down, "the dead source is not marked down");
        Assert.False(tallies[1].Down);
        Assert.Equal(image.Length, tallies.Sum(t => t.Bytes));
        Assert.True(tallies[0].Bytes >= 4L * ChunkSize && tallies[1].Bytes > tallies[0].Bytes);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_source_that_serves_wrong_bytes_is_dropped_and_none_of_its_wrong_bytes_is_written()
    {
        var (image, manifest) = Image(64);
        var corrupting = new FaultyMemorySource(image, 3) { CorruptionRate = 1 };
        var healthy = new FaultyMemorySource(image, 4);
        using var dir = new TempDirectory();
        await using var set = new SourceSet([corrupting, healthy], TimeSpan.FromSeconds(30), NullLogger.Instance);
        await using (var session = await StreamingSession.OpenAsync(set, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct))
        {
            await session.RunToCompletionAsync(Ct);
            Assert.True(session.Disk.Statistics.VerificationFailures > 0, "the corrupting source was never asked");
        }
        Assert.Equal(image, await File.ReadAllBytesAsync(dir.File("target"), Ct));
        // It flips one byte per read: a background run from it loses that one chunk (fetched again, from the healthy
        // source) and keeps the rest, which passed verification and count as what it served.
        var tallies = set.Tallies();
        Assert.Equal(image.LongLength, tallies.Sum(t => t.Bytes));
        Assert.True(tallies[1].Bytes > tallies[0].Bytes, $"the corrupting source served {tallies[0].Bytes} verified bytes, the healthy one {tallies[1].Bytes}");
    }

    [Fact(Timeout = 60_000)]
    public async Task With_every_source_down_reads_wait_the_outage_limit_then_fail_and_resume_when_one_returns()
    {
        var (image, manifest) = Image(16);
        var first = new FaultyMemorySource(image, 5) { FailureRate = 1 };
        var second = new FaultyMemorySource(image, 6) { FailureRate = 1 };
        using var dir = new TempDirectory();
        var limit = TimeSpan.FromSeconds(1);
        await using var set = new SourceSet([first, second], limit, NullLogger.Instance);
        await using var session = await StreamingSession.OpenAsync(set, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        var buffer = new byte[ChunkSize];

        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAnyAsync<IOException>(async () => await session.Disk.ReadAsync(0, buffer, Ct));
        Assert.True(clock.Elapsed >= limit, $"the read failed after {clock.Elapsed.TotalSeconds:0.00} s, before the outage limit");
        Assert.Contains("all 2 sources down", failure.Message);
        Assert.All(set.Tallies(), tally => Assert.True(tally.Down));

        second.FailureRate = 0;
        // Its probe (backoff at most 5 s) puts it back; the next read is served by it.
        var deadline = Stopwatch.StartNew();
        while (set.Tallies()[1].Down && deadline.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(50, Ct);
        await session.Disk.ReadAsync(0, buffer, Ct);
        Assert.Equal(image.AsSpan(0, ChunkSize).ToArray(), buffer);
        Assert.Equal(ChunkSize, set.Tallies()[1].Bytes);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_source_that_stops_answering_is_marked_down_after_the_no_reply_limit_and_the_read_is_served_by_the_other()
    {
        var (image, manifest) = Image(4);
        var silent = new SilentSource(image.Length);
        var healthy = new FaultyMemorySource(image, 7);
        using var dir = new TempDirectory();
        await using var set = new SourceSet([silent, healthy], TimeSpan.FromSeconds(30), NullLogger.Instance) { NoReplyLimit = TimeSpan.FromSeconds(1) };
        await using var session = await StreamingSession.OpenAsync(set, manifest, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct);
        var buffer = new byte[ChunkSize];

        // The first read goes to the silent source (equal load, listed first), waits out the limit, and is retried.
        var clock = Stopwatch.StartNew();
        await session.Disk.ReadAsync(0, buffer, Ct);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"answered after {clock.Elapsed.TotalSeconds:0.00} s: the silent source was not asked");
        Assert.Equal(image.AsSpan(0, ChunkSize).ToArray(), buffer);
        Assert.Equal((true, ChunkSize), (set.Tallies()[0].Down, set.Tallies()[1].Bytes));
    }

    /// <summary>A server that accepted the connection and never answers.</summary>
    private sealed class SilentSource(long size) : IImageSource
    {
        public long Size => size;

        public string Description => "silent";

        public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => await Task.Delay(Timeout.Infinite, ct);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static (byte[] Image, Bmcast.Core.Manifests.Manifest Manifest) Image(int chunks)
    {
        var image = new byte[chunks * ChunkSize];
        new Random(chunks).NextBytes(image);
        return (image, TestManifest.Of(image, ChunkSize));
    }
}
