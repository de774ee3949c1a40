using Bmcast.TestKit.Processes;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Engine;

/// <summary>
/// A target that holds data but has no state file is not overwritten without <c>--force</c> (issue 15:
/// <c>bmcast stream --target precious.raw</c> overwrote 16 MiB of data after a warning).
/// </summary>
public sealed class TargetOverwriteTests
{
    private const int Size = 16 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task Stream_refuses_a_target_full_of_data_without_a_state_file()
    {
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("image.raw"), new byte[Size], Ct);
        var precious = new byte[Size];
        new Random(6).NextBytes(precious);
        await File.WriteAllBytesAsync(dir.File("precious.raw"), precious, Ct);

        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1),
            "stream", "--source", "file://" + dir.File("image.raw"), "--target", dir.File("precious.raw"), "--export", "unix:" + dir.File("agent.sock"));

        Assert.Equal(1, code);
        Assert.Contains("holds data but has no state file", error);
        Assert.Contains("--force", error);
        var after = await File.ReadAllBytesAsync(dir.File("precious.raw"), Ct);
        Assert.True(precious.AsSpan().SequenceEqual(after), "the target was changed");
        Assert.False(File.Exists(dir.File("precious.raw.bmcast-state")));
    }

    [Fact(Timeout = 60_000)]
    public async Task With_force_the_target_is_overwritten_and_a_target_of_holes_needs_no_force()
    {
        using var dir = new TempDirectory();
        var image = new byte[Size];
        new Random(7).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, Ct);
        // Data only near the end: the last MiB is checked as well as the start.
        await using (var target = File.Create(dir.File("target.raw")))
        {
            target.SetLength(Size);
            target.Seek(Size - 4096, SeekOrigin.Begin);
            target.Write(new byte[] { 1 });
        }
        var options = new StreamingOptions { IdleGap = TimeSpan.Zero };
        await using (var source = new FileImageSource(dir.File("image.raw")))
            await Assert.ThrowsAsync<IOException>(() =>
                StreamingSession.OpenAsync(source, null, dir.File("target.raw"), dir.File("state"), options, NullLogger.Instance, Ct));

        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (var session = await StreamingSession.OpenAsync(source, null, dir.File("target.raw"), dir.File("state"),
            options with { OverwriteTarget = true }, NullLogger.Instance, Ct))
            await session.RunToCompletionAsync(Ct);
        var streamed = await File.ReadAllBytesAsync(dir.File("target.raw"), Ct);
        Assert.True(image.AsSpan().SequenceEqual(streamed));

        // A start that died before writing its state file left a target of holes: nothing to lose, no --force needed.
        File.Delete(dir.File("state"));
        await using (var holes = File.Create(dir.File("holes.raw")))
            holes.SetLength(Size);
        await using (var source = new FileImageSource(dir.File("image.raw")))
        await using (await StreamingSession.OpenAsync(source, null, dir.File("holes.raw"), dir.File("state"), options, NullLogger.Instance, Ct))
        {
        }
    }
}
