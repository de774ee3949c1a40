using Bmcast.Protocols.Aoe;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// The CLI wiring end to end: <c>bmcast serve --aoe</c> (allow-listing our MAC) inside a namespace,
/// <c>bmcast stream --source aoe:...</c> with a manifest file on our side of the veth pair.
/// </summary>
public sealed class AoeStreamCliTests
{
    [Fact]
    public async Task StreamFromServeOverAoeIsVerifiedAndComplete()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new Support.TempDirectory();
        byte[] image = ReadOnlyTestDevice.RandomData(8 << 20, seed: 21);
        await File.WriteAllBytesAsync(dir.File("image.raw"), image, ct);
        string store = dir.File("store");
        await RunBmcastAsync("image", "import", dir.File("image.raw"), "--name", "img", "--store", store);
        await RunBmcastAsync("image", "manifest", "img", "--output", dir.File("img.manifest"), "--store", store);
        string us = NetworkInterfaceInfo.Read(veth.HostInterface).Address.ToString();
        await using var server = ExternalTool.StartBackground("ip", veth.Exec("dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"),
            "serve", "--aoe", veth.FarInterface, "--aoe-shelf", "2", "--aoe-allow", us, "--store", store));
        await WaitForTargetAsync(veth.HostInterface);

        await using var agent = BmcastProcess.Start("stream", "--source", $"aoe:{veth.HostInterface}/e2.0",
            "--target", dir.File("target.raw"), "--export", "unix:" + dir.File("agent.sock"), "--manifest", dir.File("img.manifest"),
            "--known-keys", dir.File("known_keys"), "--json");
        var started = await agent.WaitForEventAsync("started", TimeSpan.FromSeconds(60));
        Assert.True(started.GetProperty("verified").GetBoolean());
        await agent.WaitForEventAsync("complete", TimeSpan.FromSeconds(60));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
        byte[] target = await File.ReadAllBytesAsync(dir.File("target.raw"), ct);
        Assert.True(image.AsSpan().SequenceEqual(target), "the streamed disk differs from the image");
    }

    /// <summary>A loaded machine may take seconds to start dotnet: wait until the target answers before timing the agent.</summary>
    private static async Task WaitForTargetAsync(string hostInterface)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                await using var probe = await AoeInitiator.ConnectAsync(PacketSocketChannel.Open(hostInterface), 2, 0,
                    cancellationToken: TestContext.Current.CancellationToken);
                return;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
            }
        }
    }

    private static async Task RunBmcastAsync(params string[] arguments)
    {
        var (code, output, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), arguments);
        Assert.True(code == 0, $"bmcast {string.Join(' ', arguments)} failed: {output}{error}");
    }
}
