using Bmcast.Agent.Deploy;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Bmcast.Tests.Agent;

/// <summary>
/// After its guest powers off, a deploy waits for the copy as long as bytes keep arriving, however long that takes,
/// and ends one stall limit after the last arrival when the copy has stopped (issue 13: a deploy that did not end).
/// </summary>
public sealed class CopyAfterPowerOffTests
{
    private static readonly TimeSpan StallLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public void A_copy_that_keeps_progressing_is_waited_for_past_the_stall_limit()
    {
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        // Bytes arrive every second for 150 s, more than twice the limit, then the copy is complete.
        long Present() => (long)Math.Min((time.GetUtcNow() - start).TotalSeconds, 150);
        var (finished, waited) = Finish(time, () => Task.Delay(TimeSpan.FromSeconds(150), time), Present);
        Assert.True(finished);
        Assert.Equal(TimeSpan.FromSeconds(150), waited);
    }

    [Fact]
    public void A_copy_that_stops_ends_the_wait_one_stall_limit_after_its_last_arrival()
    {
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        // Bytes arrive for 30 s, then nothing more, and the copy never completes.
        long Present() => (long)Math.Min((time.GetUtcNow() - start).TotalSeconds, 30);
        var (finished, waited) = Finish(time, () => new TaskCompletionSource().Task, Present);
        Assert.False(finished);
        Assert.InRange(waited, TimeSpan.FromSeconds(30) + StallLimit, TimeSpan.FromSeconds(30) + StallLimit + 2 * CopyAfterPowerOff.Poll);
    }

    [Fact]
    public void A_copy_already_complete_is_not_waited_for()
    {
        var time = new FakeTimeProvider();
        var (finished, waited) = Finish(time, () => Task.CompletedTask, () => 0);
        Assert.True(finished);
        Assert.Equal(TimeSpan.Zero, waited);
    }

    /// <summary>Whether the copy was finished, and how much virtual time the wait took.</summary>
    private static (bool Finished, TimeSpan Waited) Finish(FakeTimeProvider time, Func<Task> copy, Func<long> present)
    {
        var start = time.GetUtcNow();
        bool finished = VirtualTime.Run(time, () => CopyAfterPowerOff.FinishAsync(copy(), present, StallLimit, time, CancellationToken.None));
        return (finished, time.GetUtcNow() - start);
    }
}
