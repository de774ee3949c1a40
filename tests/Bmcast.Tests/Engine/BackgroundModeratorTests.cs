using Bmcast.Engine;

namespace Bmcast.Tests.Engine;

/// <summary>
/// The moderator answers at once (issue 13, item 3): admitted, or throttled for exactly as long as its answer cannot
/// change, so the copier sleeps once instead of polling.
/// </summary>
public sealed class BackgroundModeratorTests
{
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(5);

    [Fact]
    public void A_busy_guest_throttles_background_fetches_until_its_idle_gap_has_passed()
    {
        var activity = new GuestActivity();
        var options = new StreamingOptions { IdleGap = TimeSpan.FromHours(1) };
        var moderator = new BackgroundModerator(activity, options);
        Assert.True(moderator.TryAdmit(65536, waitForIdleGuest: true).IsAdmitted, "a guest that never did I/O is idle");

        activity.NoteIo();
        var answer = moderator.TryAdmit(65536, waitForIdleGuest: true);
        Assert.False(answer.IsAdmitted);
        Assert.InRange(answer.RetryAfter, options.IdleGap - Slack, options.IdleGap);
        // A predicted guest read does not wait for the guest to go idle.
        Assert.True(moderator.TryAdmit(65536, waitForIdleGuest: false).IsAdmitted);
    }

    [Fact]
    public void The_cap_admits_bytes_once_their_time_has_come_and_counts_what_a_run_fetched_beyond_its_first_chunk()
    {
        var options = new StreamingOptions { IdleGap = TimeSpan.Zero, BackgroundBytesPerSecond = 1_000_000 };
        var moderator = new BackgroundModerator(new GuestActivity(), options);

        // 10 MB at 1 MB/s are due 10 s after the copier started: throttled for that long, and nothing is counted.
        var answer = moderator.TryAdmit(10_000_000, waitForIdleGuest: false);
        Assert.False(answer.IsAdmitted);
        Assert.InRange(answer.RetryAfter, TimeSpan.FromSeconds(10) - Slack, TimeSpan.FromSeconds(10));
        Assert.InRange(moderator.TryAdmit(10_000_000, waitForIdleGuest: false).RetryAfter, answer.RetryAfter - Slack, answer.RetryAfter);

        // A run admitted by its first chunk spent 20 MB more: later bytes wait for those too.
        moderator.Spend(20_000_000);
        answer = moderator.TryAdmit(1, waitForIdleGuest: false);
        Assert.InRange(answer.RetryAfter, TimeSpan.FromSeconds(20) - Slack, TimeSpan.FromSeconds(20));
    }
}
