using Bmcast.Agent.Host;

namespace Bmcast.Agent.BareMetal;

/// <summary>
/// A network namespace of this run's own holding one tap device: the machine's e1000 and the AoE server meet there
/// and nowhere else. Deleting the namespace removes the tap with it. Needs root, <c>ip netns</c> and /dev/net/tun.
/// </summary>
public sealed class NetworkNamespace : IAsyncDisposable
{
    private NetworkNamespace(string id)
    {
        Name = "bmcast-bm-" + id;
        Interface = "bmb" + id;   // interface names stop at 15 characters
    }

    public string Name { get; }

    /// <summary>The tap device inside <see cref="Name"/>.</summary>
    public string Interface { get; }

    public static async Task<NetworkNamespace> CreateAsync(int mtu, CancellationToken ct)
    {
        var created = new NetworkNamespace((Environment.ProcessId % 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture));
        await AptPackages.RunAsync("ip", $"netns add {created.Name}", ct);
        try
        {
            await AptPackages.RunAsync("ip", $"-n {created.Name} tuntap add dev {created.Interface} mode tap", ct);
            await AptPackages.RunAsync("ip", $"-n {created.Name} link set {created.Interface} mtu {mtu} up", ct);
            return created;
        }
        catch
        {
            await created.DisposeAsync();
            throw;
        }
    }

    /// <summary>A command line that runs <paramref name="command"/> inside the namespace (ip execs it: same PID).</summary>
    public string[] Exec(params string[] command) => ["ip", "netns", "exec", Name, .. command];

    /// <summary>Waits until a process in the namespace has a packet socket for AoE's ethertype (the target listens).</summary>
    public async Task WaitForAoeSocketAsync(TimeSpan timeout, Func<bool> gaveUp, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(await AptPackages.RunAsync("ip", $"netns exec {Name} cat /proc/net/packet", ct)).Contains(" 88a2 ", StringComparison.Ordinal))
        {
            if (gaveUp() || DateTime.UtcNow > deadline)
                throw new IOException($"the AoE server did not open its socket on {Interface} in namespace {Name}");
            await Task.Delay(100, ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await AptPackages.RunAsync("ip", $"netns del {Name}", CancellationToken.None);
        }
        catch (IOException)
        {
            // Already gone (nothing else removes it, but a failed create may leave nothing to delete).
        }
    }
}
