using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Machines;

/// <summary>
/// A power cut in the middle of a deployment: <c>bmcast deploy</c> of the <c>tiny</c> image is
/// killed with SIGKILL while the guest writes and syncs one file after another (<c>write-loop</c>);
/// its QEMU must die with it. The same command then resumes (fetching nothing that was already
/// present), completes and pivots, the guest writing on; afterwards the target file alone boots
/// and <c>write-check</c> finds every file the guest had synced before the cut, the root file
/// system is clean, and the rest of the disk equals the image.
/// </summary>
public sealed class DeployKillTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_deployment_killed_mid_way_resumes_pivots_and_loses_no_flushed_write()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("qemu-system-x86_64");
        ExternalTool.Require("e2fsck");
        ExternalTool.Require("sfdisk");
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        string image = await ImageWithTailAsync(scratch, ct);
        await using var rig = await DeploymentRig.StartAsync(image, "tiny", "--rate", "8M");
        string target = rig.Directory.File("target.raw");
        string[] deploy =
        [
            "deploy", "--source", rig.SourceUri("tiny"), "--target", target, "--guest-mode", "write-loop",
            "--known-keys", rig.Directory.File("known_keys"), "--json",
        ];

        // The first run's background copy is held to 512 KiB/s, so the cut lands mid-deployment however
        // slowly a loaded host boots the guest (the boot's own reads are fetched on demand, uncapped).
        var first = rig.Track(BmcastProcess.Start([.. deploy, "--bandwidth", "512K"]));
        int firstQemu = (await first.WaitForEventAsync("machine-started", Step)).GetProperty("pid").GetInt32();
        await first.WaitForEventAsync("guest", Step, e => e.GetProperty("marker").GetString() == "BMCAST-WROTE 2");
        await first.KillHardAsync();
        await AssertGoneAsync(firstQemu);
        // Every file the guest reported before the cut was synced: none may be lost.
        int synced = Wrote(await File.ReadAllTextAsync(target + ".console.log", ct)).Max();

        var second = rig.Track(BmcastProcess.Start(deploy));
        var started = await second.WaitForEventAsync("started", Step);
        long total = started.GetProperty("total_bytes").GetInt64();
        long present = started.GetProperty("present_bytes").GetInt64();
        Assert.True(started.GetProperty("resumed").GetBoolean(), "the second run did not resume");
        Assert.True(present > 0 && present < total, $"the cut did not land mid-deployment: {present} of {total} bytes were present");
        var complete = await second.WaitForEventAsync("complete", Step);
        long fetched = complete.GetProperty("on_demand_bytes").GetInt64() + complete.GetProperty("background_bytes").GetInt64();
        Assert.True(fetched <= total - present, $"the resumed run fetched {fetched} bytes, but only {total - present} were missing");
        await second.WaitForEventAsync("pivoted", Step);
        int secondQemu = (await second.WaitForEventAsync("machine-started", Step)).GetProperty("pid").GetInt32();
        // A second cut, after the pivot: the guest's disk is the target file alone now.
        await second.KillHardAsync();
        await AssertGoneAsync(secondQemu);

        var check = await ExternalTool.RunAsync(Step, "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "512",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-drive", $"file={target},format=raw,if=virtio", "-smbios", "type=11,value=bmcast.mode=write-check");
        var ok = Regex.Match(check.Output, @"BMCAST-WRITES-OK files=(\d+)");
        Assert.True(ok.Success, $"the target alone did not find the files intact: {check.Output}{check.Error}");
        int files = int.Parse(ok.Groups[1].Value);
        TestContext.Current.TestOutputHelper?.WriteLine($"cut with {present} of {total} bytes present and {synced} files synced; " +
            $"the resumed run fetched {fetched} bytes; the target has {files} intact files");
        Assert.True(files >= synced, $"the guest synced {synced} files before the cut, the target has {files}");

        var (rootStart, rootLength) = await RootPartitionAsync(target);
        string root = scratch.File("root.ext4");
        await CopyRangeAsync(target, rootStart, rootLength, root, ct);
        await ExternalTool.RunCheckedAsync(Step, "e2fsck", "-fn", root);
        await AssertEqualOutsideAsync(image, target, rootStart, rootLength, ct);
    }

    /// <summary>
    /// The tiny image with 48 MiB of random bytes after its partitions: tiny's boot reads nearly all
    /// of its data, so without them the copy would be complete by the time the guest is up; the
    /// guest never reads them, so the background copy runs on long after it starts writing.
    /// </summary>
    private static async Task<string> ImageWithTailAsync(Bmcast.Tests.Support.TempDirectory scratch, CancellationToken ct)
    {
        string image = scratch.File("image.raw");
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(10), "image", "build", "tiny", "--output", image);
        Assert.True(code == 0, $"bmcast image build tiny failed: {error}");
        var tail = new byte[48 << 20];
        new Random(4).NextBytes(tail);
        await using var file = new FileStream(image, FileMode.Append);
        await file.WriteAsync(tail, ct);
        return image;
    }

    private static IEnumerable<int> Wrote(string console) =>
        Regex.Matches(console, @"BMCAST-WROTE (\d+)").Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(0);

    /// <summary>The process must be gone (or a zombie) within seconds; if not, it is killed here and the test fails.</summary>
    private static async Task AssertGoneAsync(int pid)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Alive(pid) && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        if (!Alive(pid))
            return;
        using var orphan = Process.GetProcessById(pid);
        if (orphan.ProcessName.StartsWith("qemu", StringComparison.Ordinal))
            orphan.Kill();
        Assert.Fail($"QEMU (pid {pid}) outlived the killed bmcast deploy");
    }

    private static bool Alive(int pid)
    {
        try
        {
            // /proc/PID/stat: "PID (COMM) STATE ...": a zombie has exited, it only waits to be reaped.
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }

    /// <summary>Byte offset and length of the disk's second partition (the ext4 root).</summary>
    private static async Task<(long Start, long Length)> RootPartitionAsync(string disk)
    {
        using var table = JsonDocument.Parse(await ExternalTool.RunCheckedAsync("sfdisk", "--json", disk));
        var root = table.RootElement.GetProperty("partitiontable").GetProperty("partitions")[1];
        return (root.GetProperty("start").GetInt64() * 512, root.GetProperty("size").GetInt64() * 512);
    }

    private static async Task CopyRangeAsync(string from, long start, long length, string to, CancellationToken ct)
    {
        await using var source = File.OpenRead(from);
        source.Position = start;
        await using var destination = File.Create(to);
        var buffer = new byte[1 << 20];
        for (long left = length; left > 0;)
        {
            int n = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
            Assert.True(n > 0, $"{from} ends inside its root partition");
            await destination.WriteAsync(buffer.AsMemory(0, n), ct);
            left -= n;
        }
    }

    /// <summary>Everything but the root partition (boot code, boot partition, tail) is as in the image.</summary>
    private static async Task AssertEqualOutsideAsync(string image, string target, long rootStart, long rootLength, CancellationToken ct)
    {
        byte[] expected = await File.ReadAllBytesAsync(image, ct);
        byte[] actual = await File.ReadAllBytesAsync(target, ct);
        Assert.Equal(expected.Length, actual.Length);
        long rootEnd = rootStart + rootLength;
        Assert.True(expected.AsSpan(0, (int)rootStart).SequenceEqual(actual.AsSpan(0, (int)rootStart)), "the target differs from the image before its root partition");
        Assert.True(expected.AsSpan((int)rootEnd).SequenceEqual(actual.AsSpan((int)rootEnd)), "the target differs from the image after its root partition");
    }
}
