using System.Text.Json;

namespace Bmcast.Tests.Chaos;

/// <summary>
/// The chaos campaigns at the reduced counts CI affords, run by bmcast-chaos against the real CLI: each must finish with
/// its summary line and no loss. Full counts are recorded in docs/reliability.md.
/// </summary>
public sealed class ChaosCampaignTests
{
    private static async Task<JsonElement> RunCampaignAsync(string campaign, int runs, TimeSpan timeout)
    {
        var (code, output, error) = await BmcastProcess.RunChaosAsync(timeout, campaign, "--runs", runs.ToString(), "--json");
        string? summaryLine = output.Split('\n').LastOrDefault(l => l.Contains("\"summary\""));
        Assert.True(summaryLine is not null, $"no summary event (exit {code}); stderr:\n{error}");
        var summary = JsonDocument.Parse(summaryLine).RootElement.Clone();
        Assert.True(code == 0, $"chaos {campaign} exited {code}: {summary.GetProperty("line").GetString()}\n{error}");
        Assert.Equal(runs, summary.GetProperty("runs").GetInt32());
        return summary;
    }

    [Fact]
    public async Task Power_cut_ten_deployments_lose_no_flushed_write()
    {
        var summary = await RunCampaignAsync("power-cut", 10, TimeSpan.FromMinutes(5));
        Assert.Equal(0, summary.GetProperty("lost_writes").GetInt64());
        Assert.Equal(0, summary.GetProperty("corrupt_blocks").GetInt64());
        Assert.True(summary.GetProperty("cuts").GetInt64() >= 10);
        Assert.True(summary.GetProperty("flushes_acknowledged").GetInt64() > 0);
    }

    [Fact]
    public async Task Server_restart_three_deployments_see_no_guest_error_from_short_outages()
    {
        var summary = await RunCampaignAsync("server-restart", 3, TimeSpan.FromMinutes(5));
        Assert.Equal(0, summary.GetProperty("guest_io_errors").GetInt64());
        Assert.Equal(0, summary.GetProperty("corrupt_blocks").GetInt64());
        Assert.True(summary.GetProperty("short_outages").GetInt64() >= 3);
        // Runs 1 and 3 keep the server away past the limit: reads then fail, and the deployment still completes.
        Assert.Equal(2, summary.GetProperty("long_outages").GetInt64());
        Assert.True(summary.GetProperty("expected_read_errors").GetInt64() > 0);
    }

    [Fact]
    public async Task Corrupt_source_lies_are_all_caught_and_tampered_manifests_refused()
    {
        var summary = await RunCampaignAsync("corrupt-source", 4, TimeSpan.FromMinutes(5));
        Assert.Equal(0, summary.GetProperty("corrupt_reads").GetInt64());
        Assert.Equal(0, summary.GetProperty("corrupt_blocks").GetInt64());
        Assert.Equal(4, summary.GetProperty("tampered_manifests_refused").GetInt64());
        long served = summary.GetProperty("bit_flips_served").GetInt64() + summary.GetProperty("wrong_offsets_served").GetInt64();
        long caught = summary.GetProperty("verification_failures").GetInt64();
        // A lie inside a reply the relay cut never reaches the agent, so caught may be below served, never above.
        Assert.True(caught > 0 && caught <= served, $"caught {caught} of {served} lies");
    }

    [Fact]
    public async Task Disk_faults_three_deployments_fail_only_requests_needing_space_and_lose_nothing()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Skip("disk-faults mounts a size-limited tmpfs and needs root; CI runs ./test.sh as root");
        var summary = await RunCampaignAsync("disk-faults", 3, TimeSpan.FromMinutes(2));
        Assert.Equal(0, summary.GetProperty("lost_writes").GetInt64());
        Assert.Equal(0, summary.GetProperty("corrupt_blocks").GetInt64());
        Assert.Equal(0, summary.GetProperty("spurious_errors").GetInt64());
        Assert.Equal(3, summary.GetProperty("fills").GetInt64());
        // The full disk refused writes that needed space, and said why.
        Assert.True(summary.GetProperty("guest_enospc").GetInt64() > 0);
    }

    [Fact]
    public async Task State_damage_three_deployments_serve_no_chunk_they_do_not_hold_and_refuse_clearly()
    {
        var summary = await RunCampaignAsync("state-damage", 3, TimeSpan.FromMinutes(8));
        foreach (string loss in new[] { "corrupt_blocks", "lost_writes", "unclear_refusals", "refusals_that_changed_files",
                     "source_change_unreported", "changed_source_accepted", "unfinished_deployments" })
            Assert.Equal(0, summary.GetProperty(loss).GetInt64());
        // Each run is cut once or more, and damaged after every cut but its last start.
        Assert.True(summary.GetProperty("cuts").GetInt64() >= 3);
        // Run 2 has its image replaced mid-deployment: a restart against the other image is refused.
        Assert.Equal(1, summary.GetProperty("source_replacements").GetInt64());
        Assert.Equal(1, summary.GetProperty("replaced_source_refused").GetInt64());
        Assert.False(summary.TryGetProperty("source_replacements_after_completion", out _), "the image was replaced after the copy had completed");
        Assert.True(summary.GetProperty("flushes_acknowledged").GetInt64() > 0);
    }

    [Fact]
    public async Task Server_memory_two_waves_stay_under_the_bound_while_a_real_client_copies()
    {
        if (!File.Exists("/usr/bin/nbdcopy") && !File.Exists("/usr/bin/qemu-img"))
            Assert.Skip("server-memory's well-behaved client is nbdcopy or qemu-img (apt-get install libnbd-bin qemu-utils)");
        var summary = await RunCampaignAsync("server-memory", 2, TimeSpan.FromMinutes(6));
        foreach (string loss in new[] { "rss_over_bound", "memory_not_returned", "good_client_failures", "limit_not_enforced",
                     "refused_below_limit", "slowloris_kept", "log_flood", "refusals_unlogged" })
            Assert.Equal(0, summary.GetProperty(loss).GetInt64());
        // Every kind of hostile client ran, and the good client copied meanwhile.
        Assert.True(summary.GetProperty("unread_clients").GetInt64() >= 4);
        Assert.True(summary.GetProperty("idle_connections").GetInt64() >= 32);
        Assert.True(summary.GetProperty("refused_connections").GetInt64() >= 8);
        Assert.True(summary.GetProperty("slowloris_dropped").GetInt64() >= 8);
        Assert.True(summary.GetProperty("good_copies").GetInt64() >= 2);
        Assert.True(summary.GetProperty("refusal_log_lines").GetInt64() >= 1);
    }

    [Fact]
    public async Task Fuzz_gives_every_target_its_share_of_inputs_without_a_loss()
    {
        const int Runs = 35_000;
        string[] targets = ["nbd_server", "nbd_client", "aoe_target", "aoe_initiator", "aoe_manifest", "manifest", "presence_state", "boot_profile"];
        var summary = await RunCampaignAsync("fuzz", Runs, TimeSpan.FromMinutes(3));
        foreach (string loss in new[] { "crashes", "hangs", "unbounded_allocations", "protocol_violations" })
            Assert.Equal(0, summary.GetProperty(loss).GetInt64());
        foreach (string target in targets)
            Assert.Equal(Runs / targets.Length, summary.GetProperty(target).GetInt64());
        // The generators reach both outcomes: inputs refused with the documented errors, and inputs accepted.
        Assert.InRange(summary.GetProperty("rejected").GetInt64(), 1, Runs - 1);
    }
}
