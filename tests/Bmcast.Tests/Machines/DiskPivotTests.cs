using System.Text.Json.Nodes;
using Bmcast.Machines.Qemu;
using Bmcast.Machines.Qmp;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Machines;

/// <summary>
/// The hosted-mode pivot against a real QEMU: a machine whose disk is the streaming agent's export
/// does I/O through its disk device (HMP qemu-io on the device), the agent completes, the disk is
/// pivoted onto the target file over QMP, the agent is stopped, and the device keeps working with
/// every write in the file.
/// </summary>
public sealed class DiskPivotTests
{
    [Fact]
    public async Task Running_machine_moves_from_the_agent_onto_the_target_file_and_keeps_its_writes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        var image = await WriteImageAsync(dir, seed: 11, ct);
        await using var agent = await StartAgentAsync(dir, "--bandwidth", "2M");
        await using var machine = await QemuMachine.StartAsync(new MachineSpec(dir.File("agent.sock"), dir.Path, MemoryMiB: 128), NullLogger.Instance, ct);

        await QemuIoAsync(machine.Qmp, "write -P 0x11 4096 8192", ct);
        await agent.WaitForEventAsync("complete", TimeSpan.FromMinutes(2));
        var pause = await DiskPivot.PivotToFileAsync(machine.Qmp, dir.File("target.raw"), ct);
        Assert.Equal(DiskPivot.LocalNode, await DiskPivot.DeviceNodeAsync(machine.Qmp, ct));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));

        // The agent is gone; the machine's disk still reads and writes, now straight from the file.
        await QemuIoAsync(machine.Qmp, "write -P 0x22 1048576 65536", ct);
        await QemuIoAsync(machine.Qmp, "flush", ct);
        string read = await QemuIoAsync(machine.Qmp, "read -P 0x11 4096 8192", ct);
        Assert.DoesNotContain("Pattern verification failed", read);
        Assert.False(machine.HasExited);

        image.AsSpan(4096, 8192).Fill(0x11);
        image.AsSpan(1 << 20, 65536).Fill(0x22);
        byte[] target = await File.ReadAllBytesAsync(dir.File("target.raw"), ct);
        Assert.True(image.AsSpan().SequenceEqual(target), $"target differs from image + writes (pivot took {pause.TotalMilliseconds:0} ms)");
    }

    [Fact]
    public async Task A_pivot_that_fails_half_way_leaves_the_machine_on_the_agent_and_a_later_pivot_succeeds()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        await WriteImageAsync(dir, seed: 12, ct);
        await using var agent = await StartAgentAsync(dir);
        await using var machine = await QemuMachine.StartAsync(new MachineSpec(dir.File("agent.sock"), dir.Path, MemoryMiB: 128), NullLogger.Instance, ct);
        await agent.WaitForEventAsync("complete", TimeSpan.FromMinutes(2));

        // A target that is not the disk's size: QEMU takes both new nodes, then refuses the mirror onto them.
        await File.WriteAllBytesAsync(dir.File("short.raw"), new byte[1 << 20], ct);
        await Assert.ThrowsAsync<DiskPivotException>(() => DiskPivot.PivotToFileAsync(machine.Qmp, dir.File("short.raw"), ct));

        Assert.Equal(QemuCommandLine.DiskNode, await DiskPivot.DeviceNodeAsync(machine.Qmp, ct));
        var nodes = (await machine.Qmp.ExecuteAsync("query-named-block-nodes", null, ct))!.AsArray().Select(n => n?["node-name"]?.GetValue<string>());
        Assert.DoesNotContain(DiskPivot.LocalNode, nodes);
        Assert.DoesNotContain(DiskPivot.FileNode, nodes);
        // Still on the agent, which still serves it: the guest's I/O goes on.
        await QemuIoAsync(machine.Qmp, "write -P 0x33 2097152 4096", ct);
        Assert.DoesNotContain("Pattern verification failed", await QemuIoAsync(machine.Qmp, "read -P 0x33 2097152 4096", ct));
        Assert.False(machine.HasExited);
        Assert.False(agent.HasExited);
        Assert.Equal(1 << 20, new FileInfo(dir.File("short.raw")).Length);

        await DiskPivot.PivotToFileAsync(machine.Qmp, dir.File("target.raw"), ct);
        Assert.Equal(DiskPivot.LocalNode, await DiskPivot.DeviceNodeAsync(machine.Qmp, ct));
    }

    /// <summary>An 8 MiB image of random bytes in <c>image.raw</c>; skips the test when QEMU is missing.</summary>
    private static async Task<byte[]> WriteImageAsync(Bmcast.Tests.Support.TempDirectory dir, int seed, CancellationToken ct)
    {
        ExternalTool.Require("qemu-system-x86_64");
        var image = new byte[8 << 20];
        new Random(seed).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, ct);
        return image;
    }

    /// <summary>The streaming agent from <c>image.raw</c> onto <c>target.raw</c>, exported on <c>agent.sock</c>, once it exports.</summary>
    private static async Task<BmcastProcess> StartAgentAsync(Bmcast.Tests.Support.TempDirectory dir, params string[] extra)
    {
        var agent = BmcastProcess.Start(["stream", "--source", "file://" + dir.File("image.raw"), "--target", dir.File("target.raw"),
            "--export", "unix:" + dir.File("agent.sock"), "--known-keys", dir.File("known_keys"), "--json", .. extra]);
        try
        {
            await agent.WaitForEventAsync("started", TimeSpan.FromSeconds(60));
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>Block I/O through the guest's disk device from the monitor, as a guest's driver would issue it.</summary>
    private static async Task<string> QemuIoAsync(QmpClient qmp, string command, CancellationToken ct)
    {
        var output = await qmp.ExecuteAsync("human-monitor-command",
            new JsonObject { ["command-line"] = $"qemu-io -d /machine/peripheral/{QemuCommandLine.DeviceId}/virtio-backend \"{command}\"" }, ct);
        string text = output?.GetValue<string>() ?? "";
        Assert.DoesNotContain("error", text, StringComparison.OrdinalIgnoreCase);
        return text;
    }
}
