using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Bmcast.Controller.Deployments;

/// <summary>
/// Runs deployments as supervised <c>bmcast deploy --json</c> processes and keeps their state: it follows each one's
/// event log, folds the events into its record, saves it, and marks it finished, stopped or failed when its process
/// ends. At start it reloads every deployment and catches up: a running one (its process still there) is followed
/// again, one whose process went while no controller ran is judged from its log.
/// </summary>
public sealed class DeploymentSupervisor : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private readonly ConcurrentDictionary<string, Deployment> _deployments = new();
    private readonly List<Task> _watchers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly DeploymentDatabase _database;
    private readonly string _data;
    private readonly ILogger _log;

    public DeploymentSupervisor(DeploymentDatabase database, string dataDirectory, ILogger log)
    {
        _database = database;
        _data = dataDirectory;
        _log = log;
        foreach (var d in database.LoadAll())
        {
            _deployments[d.Id] = d;
            if (d.State.IsTerminal())
                continue;
            var files = Files(d);
            var reader = new EventLogReader(files.Events);
            Fold(d, reader);
            if (d.Pid is { } pid && DeployProcess.IsRunning(pid, d.Target))
            {
                _log.LogInformation("deployment {Id}: its deploy (PID {Pid}) still runs, following it again", d.Id, pid);
                Watch(d, reader, process: null);
            }
            else
            {
                Finish(d, reader, exitCode: null);
                _log.LogInformation("deployment {Id}: its deploy ended while no controller ran: {State}", d.Id, d.State);
            }
        }
    }

    public IEnumerable<Deployment> All => _deployments.Values.OrderBy(d => d.Created);

    public Deployment? Find(string id) => _deployments.GetValueOrDefault(id);

    public DeploymentFiles Files(Deployment d) => new(_data, d.Id);

    /// <summary>The running deployment that writes to <paramref name="target"/>, if any.</summary>
    public Deployment? Using(string target) => _deployments.Values.FirstOrDefault(d => !d.State.IsTerminal() && d.Target == target);

    /// <summary>Accept a deployment and start its process with <paramref name="command"/>; returns it as accepted (pending).</summary>
    public Deployment Start(Func<string, Deployment> create, Func<Deployment, IReadOnlyList<string>> command)
    {
        var d = create(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        _deployments[d.Id] = d;
        _database.Save(d);
        Process process;
        try
        {
            process = DeployProcess.Start(command(d), Files(d));
        }
        catch (Exception e)
        {
            lock (d)
            {
                d.State = DeploymentState.Failed;
                d.Error = "could not start the deploy process: " + e.Message;
                _database.Save(d);
            }
            return d;
        }
        lock (d)
        {
            d.Pid = process.Id;
            _database.Save(d);
        }
        _log.LogInformation("deployment {Id}: {Image} onto {Target}, deploy PID {Pid}", d.Id, d.Image, d.Target, process.Id);
        Watch(d, new EventLogReader(Files(d).Events), process);
        return d;
    }

    /// <summary>Ask a running deployment to stop cleanly; false when it already ended.</summary>
    public bool Stop(Deployment d)
    {
        lock (d)
        {
            if (d.State.IsTerminal())
                return false;
            d.StopRequested = true;
            _database.Save(d);
        }
        if (d.Pid is { } pid && DeployProcess.IsRunning(pid, d.Target))
            DeployProcess.Stop(pid);
        return true;
    }

    private void Watch(Deployment d, EventLogReader reader, Process? process)
    {
        lock (_watchers)
            _watchers.Add(Task.Run(() => FollowAsync(d, reader, process, _stop.Token)));
    }

    private async Task FollowAsync(Deployment d, EventLogReader reader, Process? process, CancellationToken ct)
    {
        try
        {
            while (process is null ? DeployProcess.IsRunning(d.Pid!.Value, d.Target) : !process.HasExited)
            {
                Fold(d, reader);
                await Task.Delay(PollInterval, ct);
            }
            Finish(d, reader, process?.ExitCode);
            _log.LogInformation("deployment {Id}: {State}{Error}", d.Id, d.State, d.Error is null ? "" : ": " + d.Error);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The controller stops; the deploy goes on, and the next controller follows it again.
        }
        finally
        {
            process?.Dispose();
        }
    }

    private void Fold(Deployment d, EventLogReader reader)
    {
        var lines = reader.ReadNew();
        if (lines.Count == 0)
            return;
        lock (d)
        {
            foreach (string line in lines)
                DeploymentEventFold.Apply(d, line);
            _database.Save(d);
        }
    }

    private void Finish(Deployment d, EventLogReader reader, int? exitCode)
    {
        Fold(d, reader);
        lock (d)
        {
            DeploymentEventFold.Finish(d, exitCode, Files(d).LastError());
            _database.Save(d);
        }
    }

    /// <summary>Stop following (the deploy processes run on).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Task[] watchers;
        lock (_watchers)
            watchers = [.. _watchers];
        await Task.WhenAll(watchers);
        _stop.Dispose();
    }
}
