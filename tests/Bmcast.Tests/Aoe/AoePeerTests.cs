using System.Diagnostics;
using Bmcast.Core.Aoe;
using Bmcast.Core.Storage;
using Bmcast.Protocols.Aoe;
using Bmcast.Tests.Images;
using Bmcast.Tests.Nbd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// Real peers over a veth pair into a network namespace: vblade serving our initiator, aoeping,
/// aoecfg and aoe-sancheck asking our target, and our initiator against <c>bmcast serve --aoe</c> with frames dropped.
/// </summary>
public sealed class AoePeerTests
{
    private const string Install = "apt-get install vblade aoetools";

    internal static string RequireAoeTool(string tool)
    {
        foreach (string dir in new[] { "/usr/sbin", "/usr/bin", "/sbin" })
            if (File.Exists(Path.Combine(dir, tool)))
                return Path.Combine(dir, tool);
        Assert.Skip($"{tool} is not installed ({Install})");
        return tool;
    }

    [Theory]
    [InlineData(1500, true)]
    [InlineData(9000, true)]
    [InlineData(1500, false)]
    [InlineData(9000, false)]
    public async Task OurInitiatorStreamsAWholeImageFromVblade(int mtu, bool ring)
    {
        string vblade = RequireAoeTool("vblade");
        await using var veth = await VethNamespace.CreateAsync(mtu);
        using var dir = new Support.TempDirectory();
        byte[] image = ReadOnlyTestDevice.RandomData(24 << 20, seed: mtu);
        await File.WriteAllBytesAsync(dir.File("disk.raw"), image, TestContext.Current.CancellationToken);
        await using var server = ExternalTool.StartBackground("ip", veth.Exec(vblade, "-r", "2", "5", veth.FarInterface, dir.File("disk.raw")));

        var channel = PacketSocketChannel.Open(veth.HostInterface, ring: ring);
        Assert.StartsWith(ring ? "TPACKET_V2 receive ring" : "recvmmsg", channel.ReceivePath);
        await using var source = new AoeImageSource(
            await AoeInitiator.ConnectAsync(channel, 2, 5, cancellationToken: TestContext.Current.CancellationToken), "vblade");
        Assert.Equal(image.Length, source.Size);
        Assert.Equal(AoeProtocol.SectorsPerFrame(mtu), source.Initiator.SectorsPerFrame);
        var copy = await ReadAllAsync(source, $"vblade MTU {mtu}, {channel.ReceivePath}");
        Assert.True(image.AsSpan().SequenceEqual(copy), "the copy differs from vblade's file");
    }

    [Fact]
    public async Task AoepingAoecfgAndSancheckTalkToOurTarget()
    {
        string aoeping = RequireAoeTool("aoeping");
        string aoecfg = RequireAoeTool("aoecfg");
        string sancheck = RequireAoeTool("aoe-sancheck");
        await using var veth = await VethNamespace.CreateAsync();
        byte[] image = ReadOnlyTestDevice.RandomData(1 << 20, seed: 9);
        // Slots are the catalog's numbers (the order added here): alpha 7.0, zeta 7.1.
        var catalog = new MemoryExportCatalog().Add("alpha", () => new ReadOnlyTestDevice(image)).Add("zeta", () => new ReadOnlyTestDevice(new byte[4096]));
        using var channel = PacketSocketChannel.Open(veth.HostInterface);
        await using var target = await AoeTarget.CreateAsync(channel, catalog, new AoeTargetOptions { Shelf = 7 }, NullLogger.Instance, TestContext.Current.CancellationToken);
        using var stop = new CancellationTokenSource();
        var serving = target.RunAsync(stop.Token);
        try
        {
            string identify = await ExternalTool.RunCheckedAsync("ip", veth.Exec(aoeping, "-I", "-s", "5", "7", "0", veth.FarInterface));
            Assert.Contains("model: bmcast alpha", identify);
            Assert.Contains("serial_number: bmcast-7.0", identify);

            string[] cfg = [aoecfg, "-t", "3"];
            Assert.Equal("", (await ExternalTool.RunCheckedAsync("ip", veth.Exec([.. cfg, "7", "1", veth.FarInterface]))).Trim());
            Assert.Equal("owner", (await ExternalTool.RunCheckedAsync("ip", veth.Exec([.. cfg, "-c", "set", "-s", "owner", "7", "1", veth.FarInterface]))).Trim());
            Assert.Equal("owner", (await ExternalTool.RunCheckedAsync("ip", veth.Exec([.. cfg, "-c", "prefix", "-s", "own", "7", "1", veth.FarInterface]))).Trim());
            Assert.Equal("owner", (await ExternalTool.RunCheckedAsync("ip", veth.Exec([.. cfg, "7", "1", veth.FarInterface]))).Trim());
            Assert.Equal("", (await ExternalTool.RunCheckedAsync("ip", veth.Exec([.. cfg, "7", "0", veth.FarInterface]))).Trim());

            // aoe-sancheck probes every interface it sees: inside the namespace that is only the far end of our pair.
            string report = await ExternalTool.RunCheckedAsync("ip", veth.Exec(sancheck));
            Assert.Matches($@"e7\.0\s+1\s+1024\s+{veth.FarInterface}", report);
            Assert.Matches($@"e7\.1\s+1\s+1024\s+{veth.FarInterface}", report);
        }
        finally
        {
            stop.Cancel();
            await serving;
        }
    }

    [Theory]
    [InlineData(1500, 0.0)]
    [InlineData(9000, 0.0)]
    [InlineData(1500, 0.05)]
    public async Task OurInitiatorStreamsFromBmcastServe(int mtu, double loss)
    {
        await using var veth = await VethNamespace.CreateAsync(mtu);
        using var store = new TempStore();
        byte[] image = ReadOnlyTestDevice.RandomData(24 << 20, seed: 11);
        await File.WriteAllBytesAsync(store.PathFor("disk.raw"), image, TestContext.Current.CancellationToken);
        await store.ImportAsync(store.PathFor("disk.raw"), "debian");
        await using var server = ExternalTool.StartBackground("ip", veth.Exec("dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"),
            "serve", "--aoe", veth.FarInterface, "--aoe-shelf", "3", "--store", Path.Combine(store.Directory, "store")));

        var channel = new LossyChannel(PacketSocketChannel.Open(veth.HostInterface), loss, seed: 5);
        // Discovery waits out the server's start (dotnet takes a second or two).
        var options = new AoeInitiatorOptions { InitialTimeout = TimeSpan.FromMilliseconds(500) };
        await using var source = new AoeImageSource(
            await AoeInitiator.ConnectAsync(channel, 3, 0, options, TestContext.Current.CancellationToken), "bmcast serve");
        Assert.Equal(image.Length, source.Size);
        var copy = await ReadAllAsync(source, $"bmcast serve MTU {mtu} loss {loss:P0}");
        Assert.True(image.AsSpan().SequenceEqual(copy), "the copy differs from the imported image");
        if (loss > 0)
            Assert.True(source.Initiator.Retransmissions > 0 && channel.Dropped > 0);
    }

    /// <summary>Read the whole source as the engine would (64 KiB chunks, 16 at a time) and log the rate.</summary>
    private static async Task<byte[]> ReadAllAsync(AoeImageSource source, string what)
    {
        const int Chunk = 64 * 1024;
        var copy = new byte[source.Size];
        long next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            for (long i = Interlocked.Increment(ref next); i * Chunk < copy.Length; i = Interlocked.Increment(ref next))
            {
                int length = (int)Math.Min(Chunk, copy.Length - i * Chunk);
                await source.ReadAsync(i * Chunk, copy.AsMemory((int)(i * Chunk), length), TestContext.Current.CancellationToken);
            }
        }));
        TestContext.Current.SendDiagnosticMessage($"{what}: {copy.Length / 1048576.0 / clock.Elapsed.TotalSeconds:F0} MiB/s, " +
                                                  $"{source.Initiator.Retransmissions} resends");
        return copy;
    }
}
