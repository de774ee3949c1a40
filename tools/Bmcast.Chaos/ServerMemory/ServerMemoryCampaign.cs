using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Bmcast.Protocols.Nbd;
using Bmcast.TestKit.Processes;
using Microsoft.Extensions.Logging;

namespace Bmcast.Chaos.ServerMemory;

/// <summary>
/// <c>bmcast chaos server-memory</c> (issue 15, defect 1): waves of hostile NBD clients against a real <c>bmcast serve</c>
/// over loopback TCP, while a well-behaved client (<c>nbdcopy</c>) copies the image again and again. Each wave: clients
/// that send 64 READs of up to 32 MiB and never read a reply (4 KiB receive buffers); idle connections up to the
/// per-address limit and past it; slowloris handshakes dribbled one byte every half second. The server's resident memory
/// must stay under the stated bound while they run and fall back once they close, every copy must finish and equal the
/// image, connections past the limit must be refused before the greeting, slowloris clients dropped at the handshake
/// timeout, and refusals logged at most once per 10 s.
/// </summary>
public sealed partial class ServerMemoryCampaign : IChaosCampaign
{
    private const string Export = ChaosRig.ImageName;
    private const int ImageSize = 64 << 20;
    private const int PerPeerLimit = 16;
    private const int HandshakeTimeoutSeconds = 3;
    private const int ReadsPerClient = 64;
    private const int UnreadReceiveBuffer = 4096;

    /// <summary>
    /// The stated bound, per client that does not read: its 64 MiB of request data in flight
    /// (<c>NbdServerOptions.MaxBytesInFlightPerConnection</c>) plus the copy of one reply in its socket writer.
    /// </summary>
    private const long PerUnreadClient = 2 * (64L << 20);

    /// <summary>
    /// On top of that: the runtime's own growth on a loaded machine, the idle and slowloris connections' buffers, and the
    /// well-behaved client's requests in flight.
    /// </summary>
    private const long Headroom = 384L << 20;

    /// <summary>How close to its baseline the server must come back once the hostile clients have gone.</summary>
    private const long ReturnedWithin = 64L << 20;

    private static readonly TimeSpan Hold = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan DribbleInterval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan SlowlorisPatience = TimeSpan.FromSeconds(HandshakeTimeoutSeconds + 30);
    private static readonly TimeSpan ReturnTimeout = TimeSpan.FromSeconds(30);

    public string Name => "server-memory";

    public string Description => "Hostile NBD clients (unread replies, idle floods past the per-address limit, slowloris handshakes) against bmcast serve while nbdcopy copies the image: memory stays under its bound and comes back, the good client finishes";

    public string RunUnit => "waves of hostile clients";

    public int DefaultRuns => 20;

    public IReadOnlyList<string> LossCounters { get; } =
        ["rss_over_bound", "memory_not_returned", "good_client_failures", "limit_not_enforced", "refused_below_limit", "slowloris_kept", "log_flood", "refusals_unlogged"];

    public async Task RunAsync(ChaosContext context, int runs, CancellationToken ct)
    {
        var copier = WellBehavedCopier.Find();
        var image = SyntheticImage.Create(ImageSize, context.Random);
        await using var rig = await ChaosRig.ImportAsync(context.Directory("rig"), image, ct);
        var server = await StartServerAsync(context, rig, copier, image, ct);
        long peakGrowth = 0;
        TimeSpan slowestCopy = TimeSpan.Zero;
        for (int run = 1; run <= runs; run++)
        {
            var wave = await WaveAsync(context, rig, server, copier, image, run, ct);
            peakGrowth = Math.Max(peakGrowth, wave.PeakGrowth);
            slowestCopy = wave.SlowestCopy > slowestCopy ? wave.SlowestCopy : slowestCopy;
            if (wave.RestartServer)
            {
                // Memory the server did not give back would count against every later wave: start afresh.
                await rig.Server.KillHardAsync();
                await rig.ForgetExitedAsync();
                server = await StartServerAsync(context, rig, copier, image, ct);
            }
            context.RunFinished(run);
        }
        context.Tally.Add("peak_growth_mib", peakGrowth >> 20);
        context.Tally.Add("slowest_copy_ms", (long)slowestCopy.TotalMilliseconds);
        if (context.Tally["refused_connections"] > 0 && context.Tally["refusal_log_lines"] == 0)
            context.Tally.Loss("refusals_unlogged", $"{context.Tally["refused_connections"]} connections refused, none logged");
    }

    /// <summary>What one wave measured, for the campaign's summary.</summary>
    private sealed record WaveResult(long PeakGrowth, TimeSpan SlowestCopy, bool RestartServer);

    /// <summary>The server as it runs between waves, and the resident memory it returns to (after one good copy).</summary>
    private sealed record ServedImage(IPEndPoint Endpoint, long Baseline)
    {
        public string Uri => $"nbd://{Endpoint}/{Export}";
    }

    private static async Task<ServedImage> StartServerAsync(ChaosContext context, ChaosRig rig, WellBehavedCopier copier, SyntheticImage image, CancellationToken ct)
    {
        var endpoint = await rig.ServeOnLoopbackAsync(ct, "--max-connections-per-peer", PerPeerLimit.ToString(),
            "--handshake-timeout", HandshakeTimeoutSeconds.ToString());
        var served = new ServedImage(endpoint, 0);
        // Warm: the baseline includes a served copy (the runtime's pools, the store's open files).
        if (await CopyAndCheckAsync(context, copier, served, image, ct) is { } failure)
            throw new InvalidOperationException($"the well-behaved client failed before any hostile one ran: {failure}");
        return served with { Baseline = ResidentMemory.BytesOf(rig.Server.Pid) };
    }

    private static async Task<WaveResult> WaveAsync(ChaosContext context, ChaosRig rig, ServedImage served, WellBehavedCopier copier,
        SyntheticImage image, int run, CancellationToken ct)
    {
        var random = context.Random;
        var tally = context.Tally;
        int unread = random.Next(2, 5);
        int floodAddresses = random.Next(2, 7);
        int slowloris = random.Next(4, PerPeerLimit);
        long bound = unread * PerUnreadClient + Headroom;
        var server = rig.Server;
        int logLinesBefore = RefusalLines(server.Stderr);
        var clock = Stopwatch.StartNew();
        var clients = new List<HostileNbdClient>();
        var dribbling = new List<Task<TimeSpan?>>();
        TimeSpan slowestCopy = TimeSpan.Zero;
        await using var watch = new ResidentMemoryWatch(server.Pid, served.Baseline, bound);
        using var attack = CancellationTokenSource.CreateLinkedTokenSource(ct, watch.Exceeded);
        try
        {
            for (int i = 0; i < unread; i++)
            {
                if (await GoAsync(tally, clients, Address(1, i), served, UnreadReceiveBuffer, attack.Token) is not { } client)
                    continue;
                await client.SendReadsAsync(ReadsPerClient, NbdProtocol.MaxPayload, image.Size, random, attack.Token);
                tally.Add("unread_clients");
            }
            for (int a = 0; a < floodAddresses; a++)
                await FloodAsync(context, clients, Address(2, a), served, attack.Token);
            for (int s = 0; s < slowloris; s++)
            {
                var client = await ConnectAsync(clients, Address(3, 0), served, null, attack.Token);
                if (!await client.GreetedAsync(attack.Token))
                    tally.Loss("refused_below_limit", $"slowloris connection {s + 1} from {Address(3, 0)} refused before its greeting");
                else
                    dribbling.Add(client.DribbleUntilDroppedAsync(DribbleInterval, SlowlorisPatience, attack.Token));
            }
            // The well-behaved client copies while they hold on, at least for the hold time and until every slowloris
            // client has been dropped.
            while (clock.Elapsed < Hold || dribbling.Any(d => !d.IsCompleted))
            {
                var copy = Stopwatch.StartNew();
                if (await CopyAndCheckAsync(context, copier, served, image, attack.Token) is { } failure)
                    tally.Loss("good_client_failures", $"wave {run}: {failure}");
                else
                    tally.Add("good_copies");
                slowestCopy = copy.Elapsed > slowestCopy ? copy.Elapsed : slowestCopy;
            }
        }
        catch (OperationCanceledException) when (watch.Exceeded.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // Over the bound: the attack ends here, and the loss is counted below.
        }
        finally
        {
            await attack.CancelAsync();
            foreach (var dropped in dribbling)
                await JudgeSlowlorisAsync(tally, dropped, run);
            foreach (var client in clients)
                client.Dispose();
        }
        if (watch.Exceeded.IsCancellationRequested)
            tally.Loss("rss_over_bound", $"wave {run}: bmcast serve grew by more than {bound >> 20} MiB over its baseline " +
                $"({unread} clients not reading, {floodAddresses} idle floods, {slowloris} slowloris) after {clock.Elapsed.TotalSeconds:0.0} s");
        context.Log.LogInformation("wave {Run}: peak growth {Peak} MiB (bound {Bound} MiB), {Unread} clients not reading, {Floods} idle floods, {Slowloris} slowloris",
            run, watch.PeakGrowth >> 20, bound >> 20, unread, floodAddresses, slowloris);

        JudgeRefusalLog(tally, RefusalLines(server.Stderr) - logLinesBefore, clock.Elapsed, run);
        bool returned = await MemoryReturnedAsync(server, served.Baseline, ct);
        if (!returned)
            tally.Loss("memory_not_returned", $"wave {run}: bmcast serve still {(ResidentMemory.BytesOf(server.Pid) - served.Baseline) >> 20} MiB " +
                $"above its baseline {ReturnTimeout.TotalSeconds:0} s after the hostile clients closed");
        return new WaveResult(watch.PeakGrowth, slowestCopy, RestartServer: !returned || watch.Exceeded.IsCancellationRequested);
    }

    /// <summary>
    /// One address opens as many connections as the limit allows, each through the handshake and then idle; every one
    /// past the limit must be closed before its greeting.
    /// </summary>
    private static async Task FloodAsync(ChaosContext context, List<HostileNbdClient> clients, IPAddress from, ServedImage served, CancellationToken ct)
    {
        var tally = context.Tally;
        for (int i = 0; i < PerPeerLimit; i++)
            if (await GoAsync(tally, clients, from, served, null, ct) is not null)
                tally.Add("idle_connections");
        for (int extra = context.Random.Next(4, 17); extra > 0; extra--)
        {
            var client = await ConnectAsync(clients, from, served, null, ct);
            if (await client.GreetedAsync(ct))
                tally.Loss("limit_not_enforced", $"a connection from {from} past its {PerPeerLimit} open ones was greeted");
            else
                tally.Add("refused_connections");
        }
    }

    /// <summary>Connect from <paramref name="from"/> and enter transmission; null (a loss counted) when refused.</summary>
    private static async Task<HostileNbdClient?> GoAsync(ChaosTally tally, List<HostileNbdClient> clients, IPAddress from, ServedImage served,
        int? receiveBuffer, CancellationToken ct)
    {
        var client = await ConnectAsync(clients, from, served, receiveBuffer, ct);
        if (!await client.GreetedAsync(ct))
        {
            tally.Loss("refused_below_limit", $"a connection from {from}, below its limit, was refused before its greeting");
            return null;
        }
        await client.GoAsync(Export, ct);
        return client;
    }

    private static async Task<HostileNbdClient> ConnectAsync(List<HostileNbdClient> clients, IPAddress from, ServedImage served, int? receiveBuffer,
        CancellationToken ct)
    {
        var client = await HostileNbdClient.ConnectAsync(from, served.Endpoint, receiveBuffer, ct);
        clients.Add(client);
        return client;
    }

    /// <summary>127.0.GROUP.INDEX+1: every kind of hostile client has addresses of its own, apart from the good client's 127.0.0.1.</summary>
    private static IPAddress Address(int group, int index) => new(new byte[] { 127, 0, (byte)group, (byte)(index + 1) });

    private static async Task<string?> CopyAndCheckAsync(ChaosContext context, WellBehavedCopier copier, ServedImage served, SyntheticImage image,
        CancellationToken ct)
    {
        string destination = Path.Combine(context.Workspace, "copy.raw");
        if (await copier.CopyAsync(served.Uri, destination, CopyTimeout, ct) is { } failure)
            return failure;
        byte[] copied = await File.ReadAllBytesAsync(destination, ct);
        return copied.AsSpan().SequenceEqual(image.Bytes) ? null : $"{copier.Name}'s copy differs from the image";
    }

    private static async Task JudgeSlowlorisAsync(ChaosTally tally, Task<TimeSpan?> dribbling, int run)
    {
        TimeSpan? droppedAfter;
        try
        {
            droppedAfter = await dribbling;
        }
        catch (OperationCanceledException)
        {
            return; // The wave ended early (over the bound): not judged.
        }
        if (droppedAfter is { } after)
        {
            tally.Add("slowloris_dropped");
            tally.Add("slowloris_ms_total", (long)after.TotalMilliseconds);
        }
        else
            tally.Loss("slowloris_kept", $"wave {run}: a handshake dribbled a byte every {DribbleInterval.TotalMilliseconds:0} ms was still open after {SlowlorisPatience.TotalSeconds:0} s " +
                $"(handshake timeout {HandshakeTimeoutSeconds} s)");
    }

    /// <summary>At most one refusal line per <c>RefusalLog.Interval</c> (10 s): a line at the start, then one per interval.</summary>
    private static void JudgeRefusalLog(ChaosTally tally, int lines, TimeSpan elapsed, int run)
    {
        tally.Add("refusal_log_lines", lines);
        int allowed = 1 + (int)(elapsed.TotalSeconds / 10);
        if (lines > allowed)
            tally.Loss("log_flood", $"wave {run}: {lines} refusal lines in {elapsed.TotalSeconds:0.0} s (at most {allowed})");
    }

    private static async Task<bool> MemoryReturnedAsync(BmcastProcess server, long baseline, CancellationToken ct)
    {
        for (var deadline = DateTime.UtcNow + ReturnTimeout; DateTime.UtcNow < deadline; await Task.Delay(200, ct))
            if (ResidentMemory.BytesOf(server.Pid) - baseline <= ReturnedWithin)
                return true;
        return false;
    }

    private static int RefusalLines(string log) => RefusalLine().Count(log);

    [GeneratedRegex("refusing a connection from")]
    private static partial Regex RefusalLine();
}
