using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;
using Bmcast.TestKit.Processes;

namespace Bmcast.Tests.Agent;

/// <summary>
/// Two agents on one target (issue 15, defect 2: a second <c>bmcast stream</c> on a target in use logged "resuming",
/// and the first one's background copy then overwrote a write the second had acknowledged after FLUSH). Now the
/// target and the state file are claimed for the agent's life: a second agent is refused with the holder's PID, and
/// the first one's data is intact. QEMU's image locks and ours do not collide, and a target QEMU writes is refused.
/// </summary>
public sealed class DeploymentLockTests
{
    private const int Size = 16 << 20;
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 300_000)]
    public async Task A_second_stream_on_a_target_in_use_is_refused_and_the_first_ones_data_is_intact()
    {
        using var dir = new TempDirectory();
        var image = new byte[Size];
        new Random(15).NextBytes(image);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, Ct);
        string target = dir.File("target.raw");
        // Held to 256 KiB/s, the first agent's copy is still running when the second one starts.
        await using var first = BmcastProcess.Start("stream", "--source", "file://" + dir.File("image.raw"), "--target", target,
            "--export", "unix:" + dir.File("first.sock"), "--bandwidth", "256K", "--json");
        await first.WaitForEventAsync("started", Step);
        var written = new byte[64 << 10];
        new Random(16).NextBytes(written);
        const long WriteOffset = 8 << 20;
        await using (var guest = await NbdClient.ConnectAsync(NbdUri.Parse($"nbd+unix:///target.raw?socket={dir.File("first.sock")}"), Ct))
        {
            await guest.WriteAsync(WriteOffset, written, cancellationToken: Ct);
            await guest.FlushAsync(Ct);
        }

        var (code, _, error) = await BmcastProcess.RunAsync(Step, "stream", "--source", "file://" + dir.File("image.raw"), "--target", target,
            "--export", "unix:" + dir.File("second.sock"));
        Assert.Equal(1, code);
        Assert.Contains($"target {target} is in use by another bmcast deployment (PID {first.Pid})", error);
        Assert.DoesNotContain("resuming", error);

        // Another target with the first one's state file is refused too.
        var (stateCode, _, stateError) = await BmcastProcess.RunAsync(Step, "stream", "--source", "file://" + dir.File("image.raw"),
            "--target", dir.File("other.raw"), "--state", target + ".bmcast-state", "--export", "unix:" + dir.File("third.sock"));
        Assert.Equal(1, stateCode);
        Assert.Contains($"state file {target}.bmcast-state is in use by another bmcast deployment (PID {first.Pid})", stateError);

        Assert.False(first.HasExited, $"the first agent ended: {first.Stderr}");
        var read = new byte[written.Length];
        await using (var guest = await NbdClient.ConnectAsync(NbdUri.Parse($"nbd+unix:///target.raw?socket={dir.File("first.sock")}"), Ct))
            await guest.ReadAsync(WriteOffset, read, Ct);
        Assert.True(written.AsSpan().SequenceEqual(read), "the first agent's acknowledged write was lost");
        Assert.Equal(0, await first.StopAsync(Step));
        await using var file = File.OpenRead(target);
        file.Position = WriteOffset;
        await file.ReadExactlyAsync(read, Ct);
        Assert.True(written.AsSpan().SequenceEqual(read), "the target does not hold the acknowledged write");

        // Claims end with the agent: the deployment resumes.
        await using var again = BmcastProcess.Start("stream", "--source", "file://" + dir.File("image.raw"), "--target", target,
            "--export", "unix:" + dir.File("again.sock"), "--json");
        Assert.True((await again.WaitForEventAsync("started", Step)).GetProperty("resumed").GetBoolean());
    }

    [Fact(Timeout = 300_000)]
    public async Task Qemu_opens_a_target_we_hold_and_a_target_qemu_writes_is_refused()
    {
        ExternalTool.Require("qemu-io");
        ExternalTool.Require("qemu-nbd");
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("image.raw"), new byte[Size], Ct);
        string target = dir.File("target.raw");
        await using (var agent = BmcastProcess.Start("stream", "--source", "file://" + dir.File("image.raw"), "--target", target,
            "--export", "unix:" + dir.File("agent.sock"), "--bandwidth", "256K", "--json"))
        {
            await agent.WaitForEventAsync("started", Step);
            // What deploy's pivot relies on: QEMU takes its own write lock on a target bmcast holds.
            var io = await ExternalTool.RunAsync(Step, "qemu-io", "-f", "raw", "-c", "write -P 7 0 4k", target);
            Assert.True(io.ExitCode == 0, $"qemu-io could not write a target bmcast holds: {io.Output}{io.Error}");
            Assert.Equal(0, await agent.StopAsync(Step));
        }

        string held = dir.File("held.raw");
        await File.WriteAllBytesAsync(held, new byte[Size], Ct);
        using var qemu = System.Diagnostics.Process.Start("qemu-nbd", ["-f", "raw", "--socket", dir.File("qemu.sock"), held])!;
        try
        {
            await WaitForAsync(() => File.Exists(dir.File("qemu.sock")));
            var (code, _, error) = await BmcastProcess.RunAsync(Step, "stream", "--source", "file://" + dir.File("image.raw"),
                "--target", held, "--force", "--export", "unix:" + dir.File("refused.sock"));
            Assert.Equal(1, code);
            Assert.Contains($"target {held} is in use by QEMU (PID {qemu.Id})", error);
        }
        finally
        {
            qemu.Kill();
            await qemu.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Step;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(50, Ct);
        }
    }
}
