using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos;

/// <summary>What a campaign runs with: a scratch directory of its own, a seeded random source, its tally, and a log.</summary>
public sealed class ChaosContext(string workspace, int seed, ChaosTally tally, ILogger log, Action<int> runFinished)
{
    /// <summary>A directory the campaign may fill; removed afterwards unless <c>--keep</c>.</summary>
    public string Workspace { get; } = workspace;

    /// <summary>The campaign's seed: the same seed replays the same faults (up to timing).</summary>
    public int Seed { get; } = seed;

    /// <summary>The campaign's own random source: for its thread only.</summary>
    public Random Random { get; } = new(seed);

    /// <summary>
    /// A random source of its own for a part that runs beside others (a guest, a lying source, a
    /// relay). <see cref="System.Random"/> is not thread-safe: shared, its state breaks and it returns
    /// zeros from then on, which turned a 5% fault rate into 100%.
    /// </summary>
    public Random Fork() => new(Random.Next());

    public ChaosTally Tally { get; } = tally;

    public ILogger Log { get; } = log;

    /// <summary>Report that run number <paramref name="run"/> (1-based) is done, for progress output.</summary>
    public void RunFinished(int run) => runFinished(run);

    /// <summary>A fresh subdirectory of the workspace.</summary>
    public string Directory(string name) => System.IO.Directory.CreateDirectory(Path.Combine(Workspace, name)).FullName;
}
