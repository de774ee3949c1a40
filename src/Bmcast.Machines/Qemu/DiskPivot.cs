using System.Diagnostics;
using System.Text.Json.Nodes;
using Bmcast.Machines.Qmp;

namespace Bmcast.Machines.Qemu;

/// <summary>
/// De-virtualization in hosted mode: once the target file is complete, the running guest's disk is
/// moved from the agent's NBD export onto the file, with no guest involvement and no pause. A mirror
/// job with <c>sync: none</c> (nothing to copy: the file already equals the disk) duplicates writes
/// while it runs; completing it swaps the device onto the file node; the NBD nodes are then deleted,
/// which closes QEMU's connection to the agent. QEMU's own mirror copies nothing: bmcast's copier did.
/// A pivot that fails before the swap is undone, leaving the guest as it was.
/// </summary>
public static class DiskPivot
{
    public const string FileNode = "local-file";
    public const string LocalNode = "local";
    private const string JobId = "bmcast-pivot";
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RollBackTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan JobPollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Pivot; returns how long it took. A pivot that fails before the swap (QEMU refuses a step, the mirror fails or
    /// never converges) is rolled back: the mirror job cancelled, the nodes it added deleted, so the guest runs on,
    /// still on the agent's export, and a later pivot can start afresh; then <see cref="DiskPivotException"/>.
    /// </summary>
    public static async Task<TimeSpan> PivotToFileAsync(QmpClient qmp, string targetPath, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var added = new List<string>();
        bool jobStarted = false;
        // Event waits end with the pivot, whatever its outcome: a waiter left behind would swallow later events.
        using var waits = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            await qmp.ExecuteAsync("blockdev-add", new JsonObject
            {
                ["driver"] = "file", ["node-name"] = FileNode, ["filename"] = Path.GetFullPath(targetPath),
            }, ct);
            added.Add(FileNode);
            await qmp.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "raw", ["node-name"] = LocalNode, ["file"] = FileNode }, ct);
            added.Add(LocalNode);
            var ready = qmp.WaitForEventAsync("BLOCK_JOB_READY", IsPivotJob, waits.Token);
            jobStarted = true;
            await qmp.ExecuteAsync("blockdev-mirror", new JsonObject
            {
                ["job-id"] = JobId, ["device"] = QemuCommandLine.DiskNode, ["target"] = LocalNode, ["sync"] = "none",
            }, ct);
            await WithJobDiagnosticsAsync(qmp, ready, "BLOCK_JOB_READY", ct);
            var completed = qmp.WaitForEventAsync("BLOCK_JOB_COMPLETED", IsPivotJob, waits.Token);
            await qmp.ExecuteAsync("block-job-complete", new JsonObject { ["device"] = JobId }, ct);
            var done = await WithJobDiagnosticsAsync(qmp, completed, "BLOCK_JOB_COMPLETED", ct);
            if (done.Data?["error"] is { } error)
                throw new QmpException($"pivot mirror failed: {error}");
        }
        catch (QmpException e)
        {
            await waits.CancelAsync();
            string undone = await RollBackAsync(qmp, jobStarted, added);
            throw new DiskPivotException($"pivot onto {targetPath} failed ({e.Message}); the guest's disk stays on the agent's export{undone}", e);
        }
        finally
        {
            await waits.CancelAsync();
        }
        // The device is on the file now: the NBD nodes go, which closes QEMU's connection to the agent.
        await qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = QemuCommandLine.DiskNode }, ct);
        await qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = QemuCommandLine.SourceNode }, ct);
        return clock.Elapsed;
    }

    /// <summary>
    /// Undo a pivot that did not swap: cancel the mirror (with force, so a ready mirror ends without completing), wait
    /// until QEMU has dropped it, delete the added nodes, newest first. Each step is tried even when one before it
    /// failed; returns what could not be undone, for the error message ("" when all was).
    /// </summary>
    private static async Task<string> RollBackAsync(QmpClient qmp, bool jobStarted, List<string> added)
    {
        using var limit = new CancellationTokenSource(RollBackTimeout);
        var failures = new List<string>();
        if (jobStarted)
        {
            // Refused when the job already ended by itself (a mirror that failed): only its absence matters.
            await TryAsync("cancelling the mirror", token => qmp.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = JobId, ["force"] = true }, token), [], limit.Token);
            await TryAsync("waiting for the mirror to end", token => WaitForJobGoneAsync(qmp, token), failures, limit.Token);
        }
        added.Reverse();
        foreach (string node in added)
            await TryAsync($"deleting node {node}", token => qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = node }, token), failures, limit.Token);
        return failures.Count == 0 ? "" : $"; not undone: {string.Join("; ", failures)}";
    }

    private static async Task WaitForJobGoneAsync(QmpClient qmp, CancellationToken ct)
    {
        while ((await qmp.ExecuteAsync("query-block-jobs", null, ct))?.AsArray().Any(IsPivotJob) == true)
            await Task.Delay(JobPollInterval, ct);
    }

    private static async Task TryAsync(string what, Func<CancellationToken, Task> step, List<string> failures, CancellationToken ct)
    {
        try
        {
            await step(ct);
        }
        catch (Exception e) when (e is QmpException or OperationCanceledException)
        {
            failures.Add($"{what}: {e.Message}");
        }
    }

    /// <summary>The node the guest's disk device sits on now.</summary>
    public static async Task<string?> DeviceNodeAsync(QmpClient qmp, CancellationToken ct)
    {
        var blocks = await qmp.ExecuteAsync("query-block", null, ct);
        foreach (var block in blocks?.AsArray() ?? [])
            if (block?["qdev"]?.GetValue<string>() is { } qdev && qdev.Contains(QemuCommandLine.DeviceId, StringComparison.Ordinal))
                return block["inserted"]?["node-name"]?.GetValue<string>();
        return null;
    }

    /// <summary>A mirror that never converges must not hang the deployment: fail with the job's state instead.</summary>
    private static async Task<T> WithJobDiagnosticsAsync<T>(QmpClient qmp, Task<T> wait, string what, CancellationToken ct)
    {
        if (await Task.WhenAny(wait, Task.Delay(JobTimeout, ct)) == wait)
            return await wait;
        var jobs = await qmp.ExecuteAsync("query-block-jobs", null, ct);
        throw new QmpException($"pivot: no {what} after {JobTimeout.TotalSeconds:0} s; block jobs: {jobs?.ToJsonString()}");
    }

    private static bool IsPivotJob(JsonNode? data) => data?["device"]?.GetValue<string>() == JobId;
}
