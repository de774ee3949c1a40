namespace Bmcast.Chaos.Fuzz;

/// <summary>What one fuzz input may cost before it counts as a hang or an unbounded allocation.</summary>
public sealed record FuzzLimits
{
    /// <summary>
    /// Inputs take microseconds; the bound is generous so that a busy shared machine (GC pauses, other
    /// work) never turns a slow input into a false hang.
    /// </summary>
    public TimeSpan Hang { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Bytes allocated while one input runs, whatever thread allocates them. Inputs are at most tens of KiB;
    /// anything near this means a buffer was sized by a length the input claimed.
    /// </summary>
    public long Allocation { get; init; } = 64L << 20;
}
