using System.Net;
using System.Text.Json;
using Bmcast.TestKit.Processes;

namespace Bmcast.Chaos;

/// <summary>
/// An image store with one image, <c>bmcast serve</c> on a unix socket when the campaign serves from it,
/// and streaming agents (<c>bmcast stream --json</c>): the real processes an operator runs, which a
/// campaign may kill at will. Disposing stops every process it started.
/// </summary>
public sealed class ChaosRig : IAsyncDisposable
{
    public const string ImageName = "disk";
    private const string UnfinishedDeployments = "unfinished_deployments";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CompletionTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private readonly List<BmcastProcess> _processes = [];
    private readonly string _directory;
    private string[] _serveOptions = [];

    private ChaosRig(string directory) => _directory = directory;

    public string Store => Path.Combine(_directory, "store");

    public string ServerSocket => Path.Combine(_directory, "serve.sock");

    public string KnownKeys => Path.Combine(_directory, "known_keys");

    /// <summary>The image as <see cref="ServeAsync"/> serves it.</summary>
    public string SourceUri => $"nbd+unix:///{ImageName}?socket={ServerSocket}";

    /// <summary>The running <c>bmcast serve</c>, once <see cref="ServeAsync"/> has started it.</summary>
    public BmcastProcess Server { get; private set; } = null!;

    /// <summary>Import <paramref name="image"/> into a new store in <paramref name="directory"/>; nothing runs yet.</summary>
    public static async Task<ChaosRig> ImportAsync(string directory, SyntheticImage image, CancellationToken ct)
    {
        var rig = new ChaosRig(directory);
        await rig.ImportImageAsync(image, ct);
        return rig;
    }

    /// <summary>
    /// Put <paramref name="image"/> behind the same name, as an operator's <c>image import --force</c> does (issue 15,
    /// defect 7): the server is stopped first (an image being served is not replaced) and started again afterwards.
    /// </summary>
    public async Task ReplaceImageAsync(SyntheticImage image, CancellationToken ct)
    {
        await Server.KillHardAsync();
        await ImportImageAsync(image, ct, "--force");
        await RestartServerAsync(ct);
    }

    private async Task ImportImageAsync(SyntheticImage image, CancellationToken ct, params string[] options)
    {
        string imagePath = Path.Combine(_directory, "image.raw");
        await image.WriteAsync(imagePath, ct);
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(3), ["image", "import", imagePath, "--name", ImageName, "--store", Store, .. options]);
        if (code != 0)
            throw new InvalidOperationException($"image import failed: {error.Trim()}");
        File.Delete(imagePath);
    }

    /// <summary>Start <c>bmcast serve</c> with <paramref name="options"/> (kept for restarts) on the store, at <see cref="SourceUri"/>.</summary>
    public Task ServeAsync(CancellationToken ct, params string[] options)
    {
        _serveOptions = options;
        return RestartServerAsync(ct);
    }

    /// <summary>Start <c>bmcast serve</c> again after a kill: the same store, socket and options.</summary>
    public async Task RestartServerAsync(CancellationToken ct)
    {
        File.Delete(ServerSocket);
        Server = Track(BmcastProcess.Start(["serve", "--store", Store, "--nbd", "unix:" + ServerSocket, .. _serveOptions]));
        var deadline = DateTime.UtcNow + StartTimeout;
        while (!File.Exists(ServerSocket))
        {
            if (DateTime.UtcNow > deadline || Server.HasExited)
                throw new InvalidOperationException($"bmcast serve did not listen on {ServerSocket}; stderr:\n{Server.Stderr}");
            await Task.Delay(20, ct);
        }
    }

    /// <summary>
    /// Start <c>bmcast serve</c> with <paramref name="options"/> on the store over TCP, on a port of loopback the kernel
    /// picks (for campaigns whose clients must come from addresses of their own); returns where it listens.
    /// </summary>
    public async Task<IPEndPoint> ServeOnLoopbackAsync(CancellationToken ct, params string[] options)
    {
        Server = Track(BmcastProcess.Start(["serve", "--store", Store, "--nbd", "127.0.0.1:0", .. options]));
        return await Server.LoopbackListenerAsync(StartTimeout).WaitAsync(ct);
    }

    /// <summary>
    /// Start <c>bmcast stream --json</c> from <paramref name="source"/> onto <paramref name="target"/>,
    /// exported on <paramref name="exportSocket"/>; waits until it exports.
    /// </summary>
    public async Task<BmcastProcess> StartAgentAsync(string source, string target, string exportSocket, params string[] extra)
    {
        var agent = LaunchAgent(source, target, exportSocket, extra);
        await agent.WaitForEventAsync("started", StartTimeout);
        return agent;
    }

    /// <summary>
    /// Start <c>bmcast stream --json</c> like <see cref="StartAgentAsync"/>: null once it exports, or the exit code of an
    /// agent that ended without starting (a refusal, its reason on stderr).
    /// </summary>
    public async Task<(BmcastProcess Agent, int? Refused)> TryStartAgentAsync(string source, string target, string exportSocket, params string[] extra)
    {
        var agent = LaunchAgent(source, target, exportSocket, extra);
        try
        {
            await agent.WaitForEventAsync("started", StartTimeout);
            return (agent, null);
        }
        catch (InvalidOperationException)
        {
            // Its output ended without a start: it is exiting.
            return (agent, await agent.ExitCodeAsync(StopTimeout));
        }
    }

    private BmcastProcess LaunchAgent(string source, string target, string exportSocket, string[] extra) => Track(BmcastProcess.Start(
    [
        "stream", "--source", source, "--target", target, "--export", "unix:" + exportSocket,
        "--known-keys", KnownKeys, "--json", .. extra,
    ]));

    /// <summary>
    /// Finish a deployment and judge it: wait for the agent's <c>complete</c> event, let the guest stop
    /// and count what it saw, stop the agent (after a completion it must stop cleanly), and judge the
    /// target file. A deployment that never completes is an <c>unfinished_deployments</c> loss where
    /// that is one of the campaign's loss counters; elsewhere the error fails the campaign. Returns the
    /// <c>complete</c> event, or null.
    /// </summary>
    public static async Task<JsonElement?> FinishAsync(ChaosTally tally, ChaosDeployment deployment, IChaosGuest guest, CancellationToken ct)
    {
        var (directory, target, agent, client) = deployment;
        JsonElement? complete = null;
        try
        {
            complete = await agent.WaitForEventAsync("complete", CompletionTimeout);
        }
        catch (Exception e) when ((e is TimeoutException or InvalidOperationException) && tally.IsLossCounter(UnfinishedDeployments))
        {
            tally.Loss(UnfinishedDeployments, Unfinished(directory, agent, e));
        }
        await guest.FinishAsync(client, tally, ct);
        await client.DisposeAsync();
        // An agent serves until stopped: after a completion it must still run, and stop cleanly.
        int? code = agent.HasExited ? null : await agent.StopAsync(StopTimeout);
        if (complete is not null && code != 0)
            throw new InvalidOperationException($"the agent {(code is null ? "exited by itself" : $"exited with {code} when stopped")} after completing; stderr:\n{agent.Stderr}");
        await guest.JudgeTargetAsync(target, tally, ct);
        return complete;
    }

    /// <summary>
    /// Describe a deployment that never completed, keeping the agent's log beside its target
    /// (<c>agent.log</c>, kept with <c>--keep</c>) and quoting its last lines.
    /// </summary>
    private static string Unfinished(string directory, BmcastProcess agent, Exception why)
    {
        string log = agent.Stderr;
        File.WriteAllText(Path.Combine(directory, "agent.log"), log);
        string tail = string.Join("\n    ", log.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(8));
        return $"{directory}: {why.Message.Split('\n')[0]}; the agent's last log lines:\n    {tail}";
    }

    public BmcastProcess Track(BmcastProcess process)
    {
        _processes.Add(process);
        return process;
    }

    /// <summary>Stop and forget the processes that have exited or were killed, so a long campaign does not pile them up.</summary>
    public async Task ForgetExitedAsync()
    {
        foreach (var process in _processes.Where(p => p.HasExited).ToList())
        {
            await process.DisposeAsync();
            _processes.Remove(process);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
            await process.DisposeAsync();
        _processes.Clear();
    }
}
