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
/// </summary>
public static class DiskPivot
{
    public const string FileNode = "local-file";
    public const string LocalNode = "local";
    private const string JobId = "bmcast-pivot";
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Pivot; returns how long it took.</summary>
    public static async Task<TimeSpan> PivotToFileAsync(QmpClient qmp, string targetPath, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await qmp.ExecuteAsync("blockdev-add", new JsonObject
        {
            ["driver"] = "file", ["node-name"] = FileNode, ["filename"] = Path.GetFullPath(targetPath),
        }, ct);
        await qmp.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "raw", ["node-name"] = LocalNode, ["file"] = FileNode }, ct);
        var ready = qmp.WaitForEventAsync("BLOCK_JOB_READY", IsPivotJob, ct);
        await qmp.ExecuteAsync("blockdev-mirror", new JsonObject
        {
            ["job-id"] = JobId, ["device"] = QemuCommandLine.DiskNode, ["target"] = LocalNode, ["sync"] = "none",
        }, ct);
        await WithJobDiagnosticsAsync(qmp, ready, "BLOCK_JOB_READY", ct);
        var completed = qmp.WaitForEventAsync("BLOCK_JOB_COMPLETED", IsPivotJob, ct);
        await qmp.ExecuteAsync("block-job-complete", new JsonObject { ["device"] = JobId }, ct);
        var done = await WithJobDiagnosticsAsync(qmp, completed, "BLOCK_JOB_COMPLETED", ct);
        if (done.Data?["error"] is { } error)
            throw new QmpException($"pivot mirror failed: {error}");
        await qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = QemuCommandLine.DiskNode }, ct);
        await qmp.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = QemuCommandLine.SourceNode }, ct);
        return clock.Elapsed;
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
