using System.Diagnostics;
using Bmcast.Agent.Events;
using Bmcast.Agent.Host;
using Bmcast.Agent.Locking;
using Bmcast.Agent.Metrics;
using Bmcast.Agent.Streaming;
using Bmcast.Engine;
using Bmcast.Engine.Tracing;
using Bmcast.Machines.Qemu;
using Bmcast.Machines.Qmp;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Deploy;

/// <summary>
/// The whole job in hosted mode: start the streaming agent, boot a QEMU machine from its export at
/// once, report time-to-ready when the guest prints its marker, and when the copy is complete pivot
/// the running guest's disk onto the target file and stop the agent, so no guest I/O passes through
/// bmcast afterwards. Runs until the machine powers off and the copy is complete (or is stopped: Ctrl-C, SIGTERM). The target and state file
/// stay claimed (<see cref="DeploymentLock"/>) for all that time, after the pivot too, when QEMU alone writes the target.
/// </summary>
public sealed class DeployRun(DeployRequest request, IDeploymentEventSink events, ILoggerFactory logging)
{
    public const string ReadyMarker = "BMCAST-READY";
    /// <summary>What every guest marker starts with: such console lines become <c>guest</c> events.</summary>
    public const string MarkerPrefix = "BMCAST-";
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ReadSampleInterval = TimeSpan.FromMilliseconds(250);
    private readonly TaskCompletionSource<TimeSpan> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<TimeSpan> _pivoted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Time-to-ready: from the start of the deployment to the guest's marker.</summary>
    public Task<TimeSpan> Ready => _ready.Task;

    /// <summary>How long the pivot onto the target file took, once it happened.</summary>
    public Task<TimeSpan> Pivoted => _pivoted.Task;

    public async Task RunAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var log = logging.CreateLogger("bmcast.deploy");
        // Claimed before anything is installed or started: a second deploy on the target is refused at once.
        using var claim = DeploymentLock.Acquire(request.Stream.TargetPath, request.Stream.StatePath);
        await AptPackages.EnsureAsync(HostTools.Machine(request.Machine.Firmware), step => log.LogInformation("{Step}", step), ct);
        var agent = new StreamAgent(request.Stream, events, logging, claim);
        using var stopAgent = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var agentRun = agent.RunAsync(stopAgent.Token);
        try
        {
            await Task.WhenAny(agentRun, agent.Exported);
            if (agentRun.IsCompleted)
            {
                await agentRun;
                return;
            }
            await using var machine = await QemuMachine.StartAsync(request.Machine, log, ct);
            events.Publish(new MachineStarted(clock.Elapsed, machine.Accelerator, machine.Pid));
            // In the event stream, a guest's markers fall in order with the pivot (e.g. which benchmark runs came after it).
            machine.WatchConsole(MarkerPrefix, line => events.Publish(new GuestMarker(clock.Elapsed, line[line.IndexOf(MarkerPrefix, StringComparison.Ordinal)..].TrimEnd())));
            var ready = WatchReadyAsync(machine, agent, clock, log);
            var exited = machine.WaitForExitAsync(ct);

            await Task.WhenAny(agent.Complete, exited, agentRun);
            if (agentRun.IsFaulted)
                await agentRun;
            if (agent.Complete.IsCompletedSuccessfully && !machine.HasExited)
                await PivotAsync(machine, stopAgent, agentRun, clock, log, ct);
            try
            {
                await exited;
            }
            catch (OperationCanceledException)
            {
                await machine.ShutdownAsync(ShutdownGrace);
                throw;
            }
            events.Publish(new MachineExited(clock.Elapsed));
            await ready;
            // A guest that powered off before the copy finished leaves the target incomplete: finish it, so that the
            // target boots alone, unless the copy has stalled; the deploy ends either way.
            if (!agentRun.IsCompleted)
            {
                var limit = request.Stream.OutageLimit;
                bool finished = await CopyAfterPowerOff.FinishAsync(Task.WhenAny(agent.Complete, agentRun),
                    () => agent.Progress?.PresentBytes ?? 0, limit, TimeProvider.System, ct);
                if (agentRun.IsFaulted)
                    await agentRun;
                var progress = agent.Progress;
                await StopAgentAsync(stopAgent, agentRun);
                if (!finished)
                    throw new IOException($"the guest powered off and its copy made no progress for {limit.TotalSeconds:0} s (the server outage limit): "
                        + $"{progress?.Fraction:P1} of the target is present, kept in its state file; the same command resumes the copy");
            }
        }
        finally
        {
            await StopAgentAsync(stopAgent, agentRun);
            _ready.TrySetCanceled(CancellationToken.None);
            _pivoted.TrySetCanceled(CancellationToken.None);
        }
    }

    /// <summary>
    /// Move the guest onto the target and stop the agent. A pivot that fails is rolled back by <see cref="DiskPivot"/>:
    /// the guest, healthy, still runs on the agent's export, so the agent keeps serving it (every block is on the
    /// target already, and its writes go there too) until it powers off, rather than the deploy ending under it.
    /// </summary>
    private async Task PivotAsync(QemuMachine machine, CancellationTokenSource stopAgent, Task agentRun, Stopwatch clock, ILogger log, CancellationToken ct)
    {
        TimeSpan pause;
        try
        {
            pause = await DiskPivot.PivotToFileAsync(machine.Qmp, request.Stream.TargetPath, ct);
        }
        catch (DiskPivotException e)
        {
            log.LogError("{Error}: the agent keeps serving the guest until it powers off", e.Message);
            events.Publish(new PivotFailed(clock.Elapsed, e.Message));
            AgentMetrics.RecordPivotFailure();
            return;
        }
        events.Publish(new DiskPivoted(clock.Elapsed, pause));
        AgentMetrics.RecordPivot(pause);
        _pivoted.TrySetResult(pause);
        log.LogInformation("pivoted the guest's disk onto {Target} in {Ms:0} ms; stopping the agent", request.Stream.TargetPath, pause.TotalMilliseconds);
        await StopAgentAsync(stopAgent, agentRun);
    }

    private async Task WatchReadyAsync(QemuMachine machine, StreamAgent agent, Stopwatch clock, ILogger log)
    {
        var marker = machine.WaitForConsoleAsync(ReadyMarker);
        // A guest may power off right after its marker, before QEMU answers a query: until the marker, the guest's
        // reads are sampled, and the last sample stands if QEMU is gone by then.
        long guestRead = 0;
        while (!marker.IsCompleted)
        {
            guestRead = await TryGuestBytesReadAsync(machine) ?? guestRead;
            await Task.WhenAny(marker, Task.Delay(ReadSampleInterval));
        }
        try
        {
            await marker;
        }
        catch (IOException)
        {
            return;
        }
        var elapsed = clock.Elapsed;
        _ready.TrySetResult(elapsed);
        AgentMetrics.RecordReady(elapsed);
        var progress = agent.Progress;
        guestRead = await TryGuestBytesReadAsync(machine) ?? guestRead;
        // After a pivot the guest's requests no longer pass the agent: a trace or profile would lack the rest of the boot.
        bool wholeBoot = !_pivoted.Task.IsCompleted;
        var trace = wholeBoot ? WriteTrace(agent, log) : null;
        if (!wholeBoot)
            log.LogWarning("no boot trace, and the boot profile is not offered to the image server: the disk was pivoted onto the target before ready, " +
                "so the guest's later requests did not pass the agent (cap the background copy with --bandwidth to record a whole boot)");
        string profile = request.Stream.TargetPath + ".boot-profile";
        var bootOrder = agent.BootOrder(trace);
        BootProfile.Write(profile, bootOrder);
        log.LogInformation("guest ready after {Seconds:0.00} s: it read {Read} bytes, {OnDemand} bytes were fetched on demand; boot profile of {Chunks} chunks in {Profile}",
            elapsed.TotalSeconds, guestRead, progress?.BytesOnDemand, bootOrder.Count, profile);
        events.Publish(new GuestReady(clock.Elapsed, elapsed, guestRead, progress?.BytesOnDemand ?? 0, progress?.BytesBackground ?? 0));
        // The boot reached ready: its profile may serve later deployments of the image.
        if (wholeBoot)
            await agent.OfferBootProfileAsync(bootOrder, CancellationToken.None);
    }

    /// <summary>The boot trace beside the profile, or null: a boot too long to record leaves none, and the deployment goes on.</summary>
    private IoTrace? WriteTrace(StreamAgent agent, ILogger log)
    {
        if (agent.Trace is not { } recorder)
            return null;
        string path = request.Stream.TargetPath + ".boot-trace";
        try
        {
            var trace = recorder.Stop();
            trace.Write(path);
            log.LogInformation("boot trace in {Trace}: {Requests} requests, {Read} bytes read, ready at {Ready:0.00} s",
                path, trace.Records.Count, trace.BytesRead, trace.ReadyMicros / 1e6);
            return trace;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            log.LogWarning("no boot trace: {Error}", e.Message);
            return null;
        }
    }

    private static async Task<long?> TryGuestBytesReadAsync(QemuMachine machine)
    {
        try
        {
            return await machine.GuestBytesReadAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is QmpException or IOException or ObjectDisposedException)
        {
            return null;
        }
    }

    private static async Task StopAgentAsync(CancellationTokenSource stop, Task agentRun)
    {
        if (agentRun.IsCompleted)
            return;
        await stop.CancelAsync();
        try
        {
            await agentRun;
        }
        catch (OperationCanceledException)
        {
        }
    }
}
