namespace Bmcast.Chaos;

/// <summary>
/// One fault campaign of <c>bmcast chaos</c>: it repeats a fault (a power cut, a server crash, corrupt
/// data, hostile input, a failing disk) against the real components and counts what was lost.
/// </summary>
public interface IChaosCampaign
{
    /// <summary>The subcommand name, also the first word of the summary line.</summary>
    string Name { get; }

    string Description { get; }

    /// <summary>What one run is (a deployment, a generated input), for <c>--runs</c>'s help.</summary>
    string RunUnit { get; }

    /// <summary>The full count (the one recorded in docs/reliability.md) when <c>--runs</c> is not given.</summary>
    int DefaultRuns { get; }

    /// <summary>The counters that must stay zero; any other counter is informative.</summary>
    IReadOnlyList<string> LossCounters { get; }

    /// <summary>Perform <paramref name="runs"/> runs, recording into <see cref="ChaosContext.Tally"/>.</summary>
    Task RunAsync(ChaosContext context, int runs, CancellationToken ct);
}
