using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>The session on real files: state file creation, resume without re-fetching, completion.</summary>
public sealed class StreamingSessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly StreamingOptions Options = new() { IdleGap = TimeSpan.Zero, CommitInterval = TimeSpan.FromMilliseconds(100) };

    [Fact]
    public async Task Resumed_session_keeps_guest_writes_and_fetches_only_what_was_absent()
    {
        using var dir = new TempDirectory();
        byte[] image = new byte[3 * 1024 * 1024 + 512];
        new Random(7).NextBytes(image);
        File.WriteAllBytes(dir.File("image.raw"), image);
        var write = new byte[10000];
        new Random(8).NextBytes(write);
        const long writeAt = 1_000_003;

        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (var session = await StreamingSession.OpenAsync(source, null, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct))
        {
            Assert.False(session.Resumed);
            var head = new byte[4096];
            await session.Disk.ReadAsync(0, head, Ct);
            Assert.Equal(image.AsSpan(0, 4096).ToArray(), head);
            await session.Disk.WriteAsync(writeAt, write, forceUnitAccess: false, Ct);
            await session.Disk.FlushAsync(Ct);
            Assert.Equal(2 * 65536, session.Disk.Statistics.BytesOnDemand);
        }

        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (var session = await StreamingSession.OpenAsync(source, null, dir.File("target"), dir.File("state"), Options, NullLogger.Instance, Ct))
        {
            Assert.True(session.Resumed);
            await session.RunToCompletionAsync(Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            long chunks = (image.Length + 65535) / 65536;
            Assert.Equal((chunks - 2) * 65536 - (65536 - image.Length % 65536), session.Disk.Statistics.BytesBackground);
        }

        write.CopyTo(image, writeAt);
        Assert.Equal(image, File.ReadAllBytes(dir.File("target")));
    }

    [Fact]
    public async Task State_file_of_another_image_is_refused_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("a.raw"), new byte[65536 * 2]);
        File.WriteAllBytes(dir.File("b.raw"), new byte[65536 * 3]);
        await using (var source = new FileImageSource(dir.File("a.raw")))
        await using (await StreamingSession.OpenAsync(source, null, dir.File("target-a"), dir.File("state"), Options, NullLogger.Instance, Ct))
        {
        }
        await using var other = new FileImageSource(dir.File("b.raw"));
        var error = await Assert.ThrowsAsync<InvalidDataException>(() =>
            StreamingSession.OpenAsync(other, null, dir.File("target-b"), dir.File("state"), Options, NullLogger.Instance, Ct));
        Assert.Contains("state file", error.Message);
    }
}
