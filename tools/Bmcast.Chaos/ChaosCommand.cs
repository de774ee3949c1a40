using System.CommandLine;
using Bmcast.Agent;
using Bmcast.Agent.Events;
using Bmcast.Cli;
using Bmcast.Cli.Commands;
using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos;

/// <summary>
/// <c>bmcast-chaos CAMPAIGN --runs N</c> (or <c>./bmcast chaos CAMPAIGN</c>): repeat a fault against the real components
/// and count what was lost; ends with one summary line (<c>power-cut: runs=N lost_writes=0 corrupt_blocks=0</c>) and exit
/// code 2 when anything was.
/// </summary>
public static class ChaosCommand
{
    public static Command Create(IChaosCampaign campaign)
    {
        var runs = new Option<int>("--runs") { Description = $"How many {campaign.RunUnit} (full count: {campaign.DefaultRuns})", DefaultValueFactory = _ => campaign.DefaultRuns };
        var seed = new Option<int?>("--seed") { Description = "Seed of the random faults (default: random, printed so a run can be replayed)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON event per run and a summary event on stdout" };
        var keep = new Option<bool>("--keep") { Description = "Keep the scratch directory (stores, targets, logs) for a look afterwards" };
        var command = new Command(campaign.Name, campaign.Description);
        foreach (var option in new Option[] { runs, seed, json, keep })
            command.Options.Add(option);
        command.SetAction(async (parseResult, ct) =>
        {
            int count = parseResult.GetValue(runs);
            if (count <= 0)
            {
                Console.Error.WriteLine("bmcast: --runs must be positive");
                return ExitCodes.Failed;
            }
            int chosenSeed = parseResult.GetValue(seed) ?? Random.Shared.Next();
            bool asJson = parseResult.GetValue(json);
            var events = new JsonEventWriter(Console.Out);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var tally = new ChaosTally(campaign.LossCounters);
            string workspace = Directory.CreateTempSubdirectory($"bmcast-chaos-{campaign.Name}-").FullName;
            using var logging = CliLogging.Create();
            var log = logging.CreateLogger($"bmcast.chaos.{campaign.Name}");
            log.LogInformation("{Campaign}: {Runs} {Unit}, seed {Seed}, scratch {Workspace}", campaign.Name, count, campaign.RunUnit, chosenSeed, workspace);
            var context = new ChaosContext(workspace, chosenSeed, tally, log, run =>
            {
                if (asJson)
                    events.Write("run", clock.Elapsed, w => WriteCounters(w, tally, run));
                else
                    log.LogInformation("{Summary}", tally.Summary(campaign.Name, run));
            });
            try
            {
                await campaign.RunAsync(context, count, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine("bmcast: interrupted");
                return ExitCodes.Interrupted;
            }
            catch (Exception e) when (OperatorError.Is(e) || e is TimeoutException or InvalidOperationException)
            {
                // The campaign could not run to the end: that is a failure, not a clean bill.
                Console.Error.WriteLine($"bmcast: chaos {campaign.Name} stopped: {e.Message}");
                return ExitCodes.Failed;
            }
            finally
            {
                if (parseResult.GetValue(keep))
                    log.LogInformation("kept {Workspace}", workspace);
                else
                    Directory.Delete(workspace, recursive: true);
            }
            foreach (string detail in tally.Details)
                Console.Error.WriteLine($"bmcast: {campaign.Name}: {detail}");
            string summary = tally.Summary(campaign.Name, count);
            if (asJson)
                events.Write("summary", clock.Elapsed, w =>
                {
                    w.WriteString("campaign", campaign.Name);
                    w.WriteNumber("seed", chosenSeed);
                    w.WriteString("line", summary);
                    WriteCounters(w, tally, count);
                });
            else
                Console.WriteLine(summary);
            return tally.Lost ? ExitCodes.Corrupt : ExitCodes.Success;
        });
        return command;
    }

    private static void WriteCounters(System.Text.Json.Utf8JsonWriter json, ChaosTally tally, int runs)
    {
        json.WriteNumber("runs", runs);
        foreach (var (name, value) in tally.Snapshot())
            json.WriteNumber(name, value);
    }
}
