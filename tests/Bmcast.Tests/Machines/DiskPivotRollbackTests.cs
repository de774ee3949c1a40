using Bmcast.Machines.Qemu;
using Bmcast.Machines.Qmp;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// A pivot that fails at any step before the swap is undone against a fault-injecting QMP peer: the mirror job
/// cancelled when it runs, the nodes the pivot added deleted (newest first), and the nodes the guest's disk sits on,
/// the agent's, never touched. (DiskPivotTests fails one half-way on a real QEMU.)
/// </summary>
public sealed class DiskPivotRollbackTests
{
    [Theory]
    [InlineData("blockdev-add", null, new string[0])]
    [InlineData("blockdev-mirror", null, new[] { DiskPivot.LocalNode, DiskPivot.FileNode })]
    [InlineData("block-job-complete", null, new[] { DiskPivot.LocalNode, DiskPivot.FileNode })]
    [InlineData(null, "Input/output error", new[] { DiskPivot.LocalNode, DiskPivot.FileNode })]
    public async Task A_failed_step_undoes_what_the_pivot_did_and_nothing_else(string? failing, string? mirrorError, string[] deleted)
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory();
        await using var peer = new ScriptedQmpPeer(dir.File("qmp.sock")) { Fail = failing, MirrorError = mirrorError };
        await using var qmp = await QmpClient.ConnectAsync(dir.File("qmp.sock"), ct);

        var failure = await Assert.ThrowsAsync<DiskPivotException>(() => DiskPivot.PivotToFileAsync(qmp, dir.File("target.raw"), ct));

        Assert.DoesNotContain("not undone", failure.Message);
        List<(string Command, System.Text.Json.Nodes.JsonObject? Arguments)> received;
        lock (peer.Received)
            received = [.. peer.Received];
        var deletions = received.Where(r => r.Command == "blockdev-del").Select(r => r.Arguments!["node-name"]!.GetValue<string>());
        Assert.Equal(deletions, deleted);
        bool jobStarted = received.Any(r => r.Command == "blockdev-mirror");
        Assert.Equal(jobStarted, received.Any(r => r.Command == "block-job-cancel"));
        if (failing == "block-job-complete")
            Assert.Contains(received, r => r.Command == "query-block-jobs"); // waited for the cancelled job to go before deleting its target
    }
}
