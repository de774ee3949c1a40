using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// A network namespace joined to ours by a veth pair, both named uniquely for this test and removed on
/// dispose whatever happened. The host end stays here; <see cref="Exec"/> runs a tool on the far end.
/// Needs root and <c>ip netns</c>; otherwise the test is skipped with the reason.
/// </summary>
internal sealed class VethNamespace : IAsyncDisposable
{
    private static int _counter;

    private VethNamespace(string id)
    {
        Namespace = "bmcast-aoe-" + id;
        HostInterface = "bma" + id + "h";
        FarInterface = "bma" + id + "f";
    }

    public string Namespace { get; }

    /// <summary>Our end, in the test's own namespace.</summary>
    public string HostInterface { get; }

    /// <summary>The far end, inside <see cref="Namespace"/>.</summary>
    public string FarInterface { get; }

    public static async Task<VethNamespace> CreateAsync(int mtu = 1500)
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Skip("AoE namespace tests need root (raw sockets, ip netns); CI runs ./test.sh as root");
        ExternalTool.Require("ip");
        var veth = new VethNamespace($"{Environment.ProcessId % 10000}x{Interlocked.Increment(ref _counter)}");
        var created = await ExternalTool.RunAsync("ip", "netns", "add", veth.Namespace);
        if (created.ExitCode != 0)
            Assert.Skip($"ip netns add failed: {created.Error.Trim()}");
        try
        {
            var pair = await ExternalTool.RunAsync("ip", "link", "add", veth.HostInterface, "type", "veth", "peer", "name", veth.FarInterface);
            if (pair.ExitCode != 0)
                Assert.Skip($"cannot create a veth pair: {pair.Error.Trim()}");
            await ExternalTool.RunCheckedAsync("ip", "link", "set", veth.FarInterface, "netns", veth.Namespace);
            await ExternalTool.RunCheckedAsync("ip", "link", "set", veth.HostInterface, "mtu", $"{mtu}", "up");
            await ExternalTool.RunCheckedAsync("ip", "-n", veth.Namespace, "link", "set", veth.FarInterface, "mtu", $"{mtu}", "up");
            return veth;
        }
        catch
        {
            await veth.DisposeAsync();
            throw;
        }
    }

    /// <summary>Arguments for <c>ip</c> that run <paramref name="command"/> inside the namespace (ip execs it, so the PID is the command's).</summary>
    public string[] Exec(params string[] command) => ["netns", "exec", Namespace, .. command];

    public async ValueTask DisposeAsync()
    {
        // Deleting the namespace destroys the far end and with it the pair; deleting the host end first covers a half-built setup.
        await ExternalTool.RunAsync("ip", "link", "del", HostInterface);
        await ExternalTool.RunAsync("ip", "netns", "del", Namespace);
    }
}
