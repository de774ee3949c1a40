using System.Diagnostics;
using System.Text.Json;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// <c>bmcast demo --bare-metal --image tiny --json</c>, the real command as a user runs it: it builds the hypervisor
/// and the image, serves the image over AoE in a namespace of its own, boots an emulated bare-metal machine from an
/// empty NVMe disk under the hypervisor, and reports ready, completion, the disk's comparison with the image (made
/// while the hypervisor holds the guest, so a guest that keeps writing cannot race it) and de-virtualization; then
/// nothing of it is left (namespace, QEMU, scratch directory). Stopped half-way (SIGTERM, as Ctrl-C), it leaves nothing
/// either.
/// </summary>
public sealed class BareMetalDemoTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(20);   // builds included, TCG on a loaded machine

    [Fact]
    public async Task The_bare_metal_demo_streams_tiny_to_ready_completion_and_de_virtualization_and_with_a_guest_writing_throughout_its_disk_equals_the_image_plus_the_writes()
    {
        SkipUnlessSupported();
        var before = ScratchDirectories();
        var clock = Stopwatch.StartNew();
        // write-on: the guest writes a file a second from its marker on, through completion and past de-virtualization,
        // so the comparison at completion would race a writer if the hypervisor did not hold the guest while the host reads.
        await using var demo = BmcastProcess.Start("demo", "--bare-metal", "--image", "tiny", "--guest-mode", "write-on", "--json", "--keep");
        int code = await WaitForExitAsync(demo);
        string kept = KeptWorkspace(demo.Stderr);
        string[] console = await File.ReadAllLinesAsync(Path.Combine(kept, "console.log"), TestContext.Current.CancellationToken);
        Directory.Delete(kept, recursive: true);
        var events = demo.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        // The disk is compared while the hypervisor holds the guest at completion; released, the hypervisor leaves.
        string[] order = ["machine-started", "streaming", "ready", "complete", "verified", "devirtualized"];

        Assert.True(code == 0, $"exit {code}\n{demo.Stdout}\n{demo.Stderr}");
        Assert.Equal(order, events.Select(Name).Where(order.Contains).Distinct());
        Assert.DoesNotContain(events, e => Name(e) == "error");
        var ready = Single(events, "ready");
        Assert.True(ready.GetProperty("time_to_ready").GetDouble() > 0, ready.ToString());
        Assert.True(ready.GetProperty("on_demand_bytes").GetInt64() > 0, ready.ToString());
        Assert.True(ready.GetProperty("guest_read_bytes").GetInt64() > 0, ready.ToString());
        var complete = Single(events, "complete");
        Assert.Equal(100, complete.GetProperty("present_percent").GetInt64());
        Assert.Equal(complete.GetProperty("chunks").GetInt64(), complete.GetProperty("present_chunks").GetInt64());
        Assert.True(Single(events, "devirtualized").GetProperty("exits").GetInt64() > 0);
        var verified = Single(events, "verified");
        Assert.True(verified.GetProperty("equal").GetBoolean(), verified.ToString());
        Assert.True(verified.GetProperty("guest_written_chunks").GetInt64() > 0, $"the guest wrote nothing before completion: {verified}");
        Assert.Equal(complete.GetProperty("chunks").GetInt64(),
            verified.GetProperty("compared_chunks").GetInt64() + verified.GetProperty("guest_written_chunks").GetInt64());

        // The console: held at completion, nothing from the guest until the host's release, then the guest writes on
        // (the demo watches the de-virtualized OS for a few seconds).
        int held = Array.FindIndex(console, line => line.Contains("bmcast-vmm: event=held", StringComparison.Ordinal));
        int released = Array.FindIndex(console, line => line.Contains("bmcast-vmm: event=released", StringComparison.Ordinal));
        Assert.True(held >= 0 && released > held, $"no hold at completion; console:\n{string.Join('\n', console)}");
        Assert.True(released == held + 1, $"the guest ran while held:\n{string.Join('\n', console[held..(released + 1)])}");
        Assert.Contains("reason=host", console[released]);
        Assert.Contains(console[released..], line => line.Contains("BMCAST-WROTE ", StringComparison.Ordinal));
        int wroteBefore = console[..held].Count(line => line.Contains("BMCAST-WROTE ", StringComparison.Ordinal));
        await AssertNothingLeftAsync(demo.Pid, events, before);
        output.WriteLine($"{clock.Elapsed.TotalSeconds:0} s in all, builds included (TCG, loaded shared machine); {ready}; {complete}; {verified}; "
            + $"{console[released].Trim()}; files written before the hold: {wroteBefore}, in all: "
            + $"{console.Count(line => line.Contains("BMCAST-WROTE ", StringComparison.Ordinal))}");
    }

    [Fact]
    public async Task Stopped_while_the_machine_streams_the_demo_leaves_no_namespace_machine_or_scratch_directory()
    {
        SkipUnlessSupported();
        var before = ScratchDirectories();
        await using var demo = BmcastProcess.Start("demo", "--bare-metal", "--image", "tiny", "--json");
        await demo.WaitForEventAsync("streaming", RunTimeout);
        int code = await demo.StopAsync(TimeSpan.FromMinutes(1));

        Assert.NotEqual(0, code);
        var events = demo.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.DoesNotContain(events, e => Name(e) == "verified");
        await AssertNothingLeftAsync(demo.Pid, events, before);
    }

    private static void SkipUnlessSupported()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Skip("demo --bare-metal needs root (network namespace, tap device, AoE on a raw socket); CI runs ./test.sh as root");
        if (!File.Exists("/dev/net/tun"))
            Assert.Skip("/dev/net/tun is missing: no tap device for the machine's e1000");
    }

    private static async Task<int> WaitForExitAsync(BmcastProcess demo)
    {
        var deadline = DateTime.UtcNow + RunTimeout;
        while (!demo.HasExited)
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"demo --bare-metal did not finish within {RunTimeout}:\n{demo.Stdout}\n{demo.Stderr}");
            await Task.Delay(500);
        }
        return await demo.StopAsync(TimeSpan.FromSeconds(30));   // reaps it and drains its output
    }

    /// <summary>The demo's namespace (named after its PID), its QEMU and its scratch directory are gone.</summary>
    private static async Task AssertNothingLeftAsync(int demoPid, List<JsonElement> events, HashSet<string> scratchBefore)
    {
        var namespaces = await ExternalTool.RunCheckedAsync("ip", "netns", "list");
        Assert.DoesNotContain($"bmcast-bm-{demoPid % 1_000_000}", namespaces.Split('\n').Select(line => line.Split(' ')[0]));
        foreach (var started in events.Where(e => Name(e) == "machine-started"))
            Assert.False(Directory.Exists($"/proc/{started.GetProperty("pid").GetInt32()}"), "the machine's QEMU still runs");
        // Only bare-metal scratch directories: other demos may run beside this test.
        Assert.DoesNotContain(ScratchDirectories(), d => !scratchBefore.Contains(d) && File.Exists(Path.Combine(d, "vmm-boot.img")));
    }

    /// <summary>The scratch directory <c>--keep</c> names on stderr ("kept DIR").</summary>
    private static string KeptWorkspace(string stderr)
    {
        var kept = System.Text.RegularExpressions.Regex.Match(stderr, @"kept (\S+)");
        Assert.True(kept.Success && Directory.Exists(kept.Groups[1].Value), $"--keep named no scratch directory:\n{stderr}");
        return kept.Groups[1].Value;
    }

    private static HashSet<string> ScratchDirectories() => Directory.GetDirectories(Path.GetTempPath(), "bmcast-demo-*").ToHashSet();

    private static string Name(JsonElement e) => e.GetProperty("event").GetString()!;

    private static JsonElement Single(List<JsonElement> events, string name) => events.Single(e => Name(e) == name);
}
