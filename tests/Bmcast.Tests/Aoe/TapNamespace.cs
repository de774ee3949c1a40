using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// A network namespace holding one tap device for a QEMU guest, both named uniquely for this test; deleting the
/// namespace on dispose removes the tap with it, whatever happened. Needs root, <c>ip netns</c> and /dev/net/tun.
/// </summary>
internal sealed class TapNamespace : IAsyncDisposable
{
    private static int _counter;

    private TapNamespace(string id)
    {
        Namespace = "bmcast-tap-" + id;
        Interface = "bmt" + id;
    }

    public string Namespace { get; }

    /// <summary>The tap device inside <see cref="Namespace"/>.</summary>
    public string Interface { get; }

    public static async Task<TapNamespace> CreateAsync()
    {
        var tap = new TapNamespace($"{Environment.ProcessId % 10000}x{Interlocked.Increment(ref _counter)}");
        var created = await ExternalTool.RunAsync("ip", "netns", "add", tap.Namespace);
        if (created.ExitCode != 0)
            Assert.Skip($"ip netns add failed: {created.Error.Trim()}");
        try
        {
            var device = await ExternalTool.RunAsync("ip", "-n", tap.Namespace, "tuntap", "add", "dev", tap.Interface, "mode", "tap");
            if (device.ExitCode != 0)
                Assert.Skip($"cannot create a tap device: {device.Error.Trim()}");
            await ExternalTool.RunCheckedAsync("ip", "-n", tap.Namespace, "link", "set", tap.Interface, "up");
            return tap;
        }
        catch
        {
            await tap.DisposeAsync();
            throw;
        }
    }

    /// <summary>Arguments for <c>ip</c> that run <paramref name="command"/> inside the namespace (ip execs it, so the PID is the command's).</summary>
    public string[] Exec(params string[] command) => ["netns", "exec", Namespace, .. command];

    /// <summary>Wait until some process in the namespace has a packet socket for the AoE ethertype (a target is listening).</summary>
    public async Task WaitForAoeSocketAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(await ExternalTool.RunCheckedAsync("ip", Exec("cat", "/proc/net/packet"))).Contains(" 88a2 ", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"no AoE packet socket in {Namespace} after {timeout.TotalSeconds} s");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync() => await ExternalTool.RunAsync("ip", "netns", "del", Namespace);
}
