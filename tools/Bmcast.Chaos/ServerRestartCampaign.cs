using System.Diagnostics;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.TestKit.Processes;

namespace Bmcast.Chaos;

/// <summary>
/// <c>bmcast chaos server-restart</c>: the image server is killed (SIGKILL) and restarted again and
/// again while a guest reads through a streaming agent. Outages shorter than the agent's
/// <c>--server-outage-limit</c> must cost the guest no I/O error; every other run also has one outage
/// longer than the limit, during which reads fail with an error, and after which the deployment must
/// resume and complete. Every byte the guest read, and the finished target, must be the image's.
/// </summary>
public sealed class ServerRestartCampaign : IChaosCampaign
{
    private const int ImageSize = 16 << 20;
    private const int OutageLimitSeconds = 8;
    private static readonly TimeSpan ReconnectTimeout = TimeSpan.FromMinutes(1);

    public string Name => "server-restart";

    public string Description => "Kill and restart the image server repeatedly while a guest reads; short outages must cause no guest I/O error";

    public string RunUnit => "deployments";

    public int DefaultRuns => 20;

    public IReadOnlyList<string> LossCounters { get; } = ["guest_io_errors", "corrupt_reads", "corrupt_blocks", "unfinished_deployments", "unclear_errors"];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        var image = SyntheticImage.Create(ImageSize, context.Random);
        // A slow link keeps each deployment unfinished while the server comes and goes.
        await using var rig = await ChaosRig.ImportAsync(context.Directory("rig"), image, ct);
        await rig.ServeAsync(ct, "--rate", "2M");
        for (int run = 1; run <= runs; run++)
        {
            await DeployThroughOutagesAsync(context, rig, image, context.Directory($"run-{run}"), longOutage: run % 2 == 1, ct);
            await rig.ForgetExitedAsync();
            context.RunFinished(run);
        }
    }

    private static async Task DeployThroughOutagesAsync(ChaosContext context, ChaosRig rig, SyntheticImage image, string directory,
        bool longOutage, CancellationToken ct)
    {
        var random = context.Random;
        var tally = context.Tally;
        string target = Path.Combine(directory, "target.raw");
        string export = Path.Combine(directory, "agent.sock");
        var agent = await rig.StartAgentAsync(rig.SourceUri, target, export, "--server-outage-limit", OutageLimitSeconds.ToString());
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(NbdEndpoint.Unix(export), ""), ct);
        var reader = new VerifyingReader(image, context.Fork(), "expected_read_errors");
        reader.Start(client);

        if (longOutage)
            await LongOutageAsync(context, rig, agent, reader, ct);
        int shortOutages = random.Next(1, 4);
        for (int i = 0; i < shortOutages; i++)
        {
            await Task.Delay(random.Next(100, 1000), ct);
            await ShortOutageAsync(context, rig, agent, reader, ct);
        }

        await ChaosRig.FinishAsync(tally, new ChaosDeployment(directory, target, agent, client), reader, ct);
    }

    /// <summary>
    /// The server is killed and restarted after 0-1 s. The outage is what the agent saw: from the kill until the new
    /// server listens. On a loaded machine the start alone has taken 12 s, past the agent's 8 s limit; reads that failed
    /// in such an outage are then excused as in a long one (and the agent must have said why), since the agent was
    /// right to fail them. Reads that fail once the server listens, or in an outage shorter than the limit, stay errors.
    /// The next kill waits until the agent has reconnected, so two outages never run into one.
    /// </summary>
    private static async Task ShortOutageAsync(ChaosContext context, ChaosRig rig, BmcastProcess agent, VerifyingReader reader, CancellationToken ct)
    {
        long killed = Stopwatch.GetTimestamp();
        await rig.Server.KillHardAsync();
        await Task.Delay(context.Random.Next(0, 1000), ct);
        int reconnections = Reconnections(agent);
        await rig.RestartServerAsync(ct);
        long listening = Stopwatch.GetTimestamp();
        await AwaitReconnectionAsync(agent, reconnections, ct);
        context.Tally.Add("short_outages");
        // The agent's last reconnection attempt before it gives up comes at its limit; under a second of margin is
        // left for that attempt to connect and check the source.
        if (Stopwatch.GetElapsedTime(killed, listening) < TimeSpan.FromSeconds(OutageLimitSeconds - 1))
            return;
        context.Tally.Add("slow_restarts");
        if (reader.Excuse(killed, listening) > 0 && !agent.Stderr.Contains("unreachable for"))
            context.Tally.Loss("unclear_errors", "reads failed during a slow restart but the agent never logged the server as unreachable");
    }

    /// <summary>
    /// The server stays away longer than the limit: reads fail (expected), the agent must stay up, and
    /// once the server listens again every read that starts must succeed, without anyone touching the agent.
    /// </summary>
    private static async Task LongOutageAsync(ChaosContext context, ChaosRig rig, BmcastProcess agent, VerifyingReader reader, CancellationToken ct)
    {
        await Task.Delay(context.Random.Next(100, 600), ct);
        reader.ExpectFailures = true;
        long failuresBefore = reader.ExpectedFailures;
        await rig.Server.KillHardAsync();
        await Task.Delay(TimeSpan.FromSeconds(OutageLimitSeconds + 2), ct);
        int reconnections = Reconnections(agent);
        await rig.RestartServerAsync(ct);
        // The server listens again: reads that start from now on must succeed, the first of them reconnecting.
        reader.ExpectFailures = false;
        await AwaitReconnectionAsync(agent, reconnections, ct);
        context.Tally.Add("long_outages");
        // Reads that failed must have said why, in the agent's log, in words an operator can act on.
        if (reader.ExpectedFailures > failuresBefore && !agent.Stderr.Contains("unreachable for"))
            context.Tally.Loss("unclear_errors", "reads failed during a long outage but the agent never logged the server as unreachable");
    }

    private static int Reconnections(BmcastProcess agent) => agent.Stderr.Split("reconnected to").Length - 1;

    /// <summary>
    /// An outage lasts, for the agent, until it has reconnected, not until the server listens: a server that takes a
    /// few seconds to answer its first handshake on a loaded host and is then killed again would make two short
    /// outages one long one, and the reads failing in it would be the agent keeping its limit, not a defect. So the
    /// next kill waits for the agent's "reconnected" line (the reader and the copier read all the time), or for its
    /// "complete" event: a complete deployment reads nothing from the server.
    /// </summary>
    private static async Task AwaitReconnectionAsync(BmcastProcess agent, int before, CancellationToken ct)
    {
        var reconnected = PollReconnectionAsync(agent, before, ct);
        var completed = agent.WaitForEventAsync("complete", ReconnectTimeout);
        await await Task.WhenAny(reconnected, completed);
    }

    private static async Task PollReconnectionAsync(BmcastProcess agent, int before, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + ReconnectTimeout;
        while (Reconnections(agent) <= before)
        {
            if (DateTime.UtcNow > deadline || agent.HasExited)
                throw new InvalidOperationException($"the agent did not reconnect within {ReconnectTimeout} of the server listening again; stderr:\n{agent.Stderr}");
            await Task.Delay(20, ct);
        }
    }
}
