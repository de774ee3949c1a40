namespace Bmcast.Engine;

/// <summary>
/// The moderator's answer to "may the copier fetch now?": admitted, or throttled with the time after
/// which asking again may succeed. The copier decides how to wait; the moderator never blocks.
/// </summary>
public readonly record struct Admission(TimeSpan RetryAfter)
{
    public static Admission Admitted => default;

    public bool IsAdmitted => RetryAfter <= TimeSpan.Zero;

    public static Admission Throttled(TimeSpan retryAfter) =>
        new(retryAfter > TimeSpan.Zero ? retryAfter : TimeSpan.FromTicks(1));
}
