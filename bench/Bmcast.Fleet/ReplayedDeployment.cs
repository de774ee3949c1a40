using System.Diagnostics;
using Bmcast.Agent.Events;
using Bmcast.Agent.Streaming;
using Bmcast.Engine;
using Bmcast.Engine.Tracing;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Microsoft.Extensions.Logging;

namespace Bmcast.Fleet;

/// <summary>
/// What one replayed deployment came to: time-to-ready from its start and, of it, the time until its export took
/// connections (agent start, source connections, manifest, target and state files); bytes fetched by ready; or its error.
/// </summary>
internal sealed record ReplayOutcome(int Client, double? ReadySeconds, double? ExportedSeconds, long FetchedBytes, long OnDemandBytes, string? Error);

/// <summary>
/// One machine of the fleet without its guest: a streaming agent of its own (engine, target file, state file, source
/// connections, NBD export) as <c>bmcast deploy</c> runs it, with the boot trace replayed against its export instead
/// of QEMU booting from it. Time-to-ready counts from the agent's start (its connection and manifest included); the
/// agent is stopped at ready, the rest of the copy being no part of the boot. With several sources (servers of the same
/// image) the agent spreads its fetches over all of them, as with <c>--source</c> repeated.
/// </summary>
internal sealed class ReplayedDeployment(int client, IReadOnlyList<string> sources, string directory, IoTrace trace, ILoggerFactory logging)
{
    private sealed class NoEvents : IDeploymentEventSink
    {
        public void Publish(DeploymentEvent deploymentEvent)
        {
        }
    }

    public async Task<ReplayOutcome> RunAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var clock = Stopwatch.StartNew();
        string socket = Path.Combine(directory, "agent.sock");
        var request = new StreamRequest(sources, Path.Combine(directory, "target.raw"), Path.Combine(directory, "target.raw.bmcast-state"),
            NbdEndpoint.Unix(socket), null, null, Path.Combine(directory, "known_keys"), new StreamingOptions());
        var agent = new StreamAgent(request, new NoEvents(), logging);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = agent.RunAsync(stop.Token);
        try
        {
            await Task.WhenAny(run, agent.Exported);
            if (run.IsCompleted)
                await run;
            double exported = clock.Elapsed.TotalSeconds;
            await using var disk = new NbdClientDevice(await NbdClient.ConnectAsync(NbdEndpoint.Unix(socket), "", ct));
            await IoTraceReplay.RunAsync(trace, disk, ct);
            double ready = clock.Elapsed.TotalSeconds;
            var progress = agent.Progress!.Value;
            return new ReplayOutcome(client, ready, exported, progress.BytesOnDemand + progress.BytesBackground, progress.BytesOnDemand, null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new ReplayOutcome(client, null, null, 0, 0, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await run;
            }
            catch (Exception)
            {
                // An agent that failed before ready failed the replay, reported above; after ready it is only being stopped.
            }
        }
    }
}
