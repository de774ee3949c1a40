using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// <c>bmcast chaos fuzz</c>: generated inputs, in turn for each target (NBD server and client, AoE target and
/// initiator, manifest, presence state, boot profile), fed to the real code in this process one at a time.
/// Each input must end within <see cref="FuzzLimits.Hang"/>, allocate less than
/// <see cref="FuzzLimits.Allocation"/>, and fail, if at all, only with the target's documented errors.
/// </summary>
public sealed class FuzzCampaign(Func<ChaosContext, CancellationToken, Task<IReadOnlyList<IFuzzTarget>>> createTargets, FuzzLimits limits) : IChaosCampaign
{
    public const string Crashes = "crashes";
    public const string Hangs = "hangs";
    public const string UnboundedAllocations = "unbounded_allocations";
    public const string ProtocolViolations = "protocol_violations";
    /// <summary>Losses of one kind described one by one (and their inputs kept); the rest are only counted.</summary>
    private const int DetailedLosses = 20;

    public FuzzCampaign()
        : this(FuzzTargets.CreateAllAsync, new FuzzLimits())
    {
    }

    public string Name => "fuzz";

    public string Description => "Generated and mutated inputs against the NBD server and client, the AoE target and initiator, and the manifest, presence-state and boot-profile parsers: no crash, hang or unbounded allocation";

    public string RunUnit => "generated inputs";

    public int DefaultRuns => 1_000_000;

    public IReadOnlyList<string> LossCounters { get; } = [Crashes, Hangs, UnboundedAllocations, ProtocolViolations];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        var targets = await createTargets(context, ct);
        try
        {
            foreach (var target in targets)
                context.Tally.Add(target.Name, 0);
            context.Tally.Add("rejected", 0);
            int progressEvery = Math.Max(1, runs / 100);
            for (int run = 1; run <= runs; run++)
            {
                ct.ThrowIfCancellationRequested();
                var target = targets[(run - 1) % targets.Count];
                await FeedOneAsync(context, target, run, ct);
                if (run % progressEvery == 0 || run == runs)
                    context.RunFinished(run);
            }
            context.Tally.Add("peak_working_set_mib", Process.GetCurrentProcess().PeakWorkingSet64 >> 20);
        }
        finally
        {
            foreach (var target in targets)
                await target.DisposeAsync();
        }
    }

    private async Task FeedOneAsync(ChaosContext context, IFuzzTarget target, int run, CancellationToken ct)
    {
        var tally = context.Tally;
        tally.Add(target.Name);
        byte[] input = target.Generate(context.Random);
        long allocatedBefore = GC.GetTotalAllocatedBytes();
        // On the thread pool, so that even a target stuck in a loop cannot stop the watchdog below.
        var feeding = Task.Run(() => target.FeedAsync(input, ct), ct);
        try
        {
            await feeding.WaitAsync(limits.Hang, ct);
        }
        catch (TimeoutException) when (!feeding.IsCompleted)
        {
            // Counted, not awaited: the input is abandoned where it hangs. It may be holding a pool thread
            // (a loop, a blocking wait); one more keeps the inputs after it from queueing behind it.
            Lose(context, Hangs, target, run, input, $"not finished after {limits.Hang.TotalSeconds:0.#} s");
            ThreadPool.GetMinThreads(out int workers, out int completionPorts);
            ThreadPool.SetMinThreads(workers + 1, completionPorts);
            return;
        }
        catch (FuzzViolationException e)
        {
            Lose(context, ProtocolViolations, target, run, input, e.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (target.IsDocumented(e))
        {
            tally.Add("rejected");
        }
        catch (Exception e)
        {
            Lose(context, Crashes, target, run, input, Describe(e));
            context.Log.LogDebug(e, "{Target} input #{Run} crashed", target.Name, run);
        }
        long allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
        if (allocated > limits.Allocation)
            Lose(context, UnboundedAllocations, target, run, input, $"allocated {allocated >> 20} MiB for a {input.Length}-byte input");
    }

    /// <summary>The exception and what it wraps: a bug often hides inside a documented wrapper.</summary>
    private static string Describe(Exception error)
    {
        var chain = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException)
            chain.Add($"{e.GetType().Name}: {e.Message}");
        return string.Join(" <- ", chain);
    }

    /// <summary>Count a loss; the first few also keep a line and their input (in the workspace, kept with <c>--keep</c>).</summary>
    private static void Lose(ChaosContext context, string counter, IFuzzTarget target, int run, byte[] input, string why)
    {
        if (context.Tally[counter] >= DetailedLosses)
        {
            context.Tally.Add(counter);
            return;
        }
        string file = Path.Combine(context.Directory("findings"), $"{target.Name}-{run}.bin");
        File.WriteAllBytes(file, input);
        context.Tally.Loss(counter, $"{target.Name} input #{run} (seed {context.Seed}, saved as {file}): {why}");
    }
}
