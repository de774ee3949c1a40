using Bmcast.Core.Manifests;
using Bmcast.Protocols.Aoe;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Aoe;

/// <summary>
/// The CLI wiring end to end: <c>bmcast serve --aoe</c> (allow-listing our MAC) inside a namespace,
/// <c>bmcast stream --source aoe:...</c> on our side of the veth pair, verified with a manifest file or with the
/// manifest the server exports on its companion shelf, with the boot profile from the profile shelf; and <c>vblade</c>,
/// which exports neither.
/// </summary>
public sealed class AoeStreamCliTests
{
    private const int ImageSeed = 21;

    [Fact]
    public async Task StreamFromServeOverAoeIsVerifiedAndComplete()
    {
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        string store = await ImportAsync(dir);
        await RunBmcastAsync("image", "manifest", "img", "--output", dir.File("img.manifest"), "--store", store);
        await using var server = await ServeAsync(veth, store);

        await StreamToCompletionAsync(veth, dir, verified: true, extra: ["--manifest", dir.File("img.manifest")]);
    }

    /// <summary>On the default companion shelf (the image's + 1), or on one both ends are told (<paramref name="manifestShelf"/>).</summary>
    [Theory]
    [InlineData(null)]
    [InlineData(7)]
    public async Task WithoutAManifestFileTheManifestComesFromTheCompanionShelf(int? manifestShelf)
    {
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        string store = await ImportAsync(dir);
        string[] shelf = manifestShelf is { } m ? ["--aoe-manifest-shelf", $"{m}"] : [];
        await using var server = await ServeAsync(veth, store, shelf);

        string source = $"aoe:{veth.HostInterface}/e2.0" + (manifestShelf is { } given ? $"?manifest-shelf={given}" : "");
        string stderr = await StreamToCompletionAsync(veth, dir, verified: true, source);
        Assert.Contains("trusting image server", stderr); // the manifest's key, pinned on first use
        Assert.Contains("where the image's boot profile would be", stderr); // none recorded: a log line, no error
        Assert.DoesNotContain("prefetching", stderr);
    }

    /// <summary>
    /// A profile recorded while the server runs is exported within a refresh, on the default profile shelf (the image's
    /// + 2) or one both ends are told (<paramref name="profileShelf"/>), and the agent prefetches it.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData(9)]
    public async Task ABootProfileRecordedWhileServingReachesTheAgentOverAoe(int? profileShelf)
    {
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        string store = await ImportAsync(dir);
        await using var server = await ServeAsync(veth, store, profileShelf is { } p ? ["--aoe-profile-shelf", $"{p}"] : []);
        await File.WriteAllTextAsync(dir.File("boot-profile"), "# bmcast boot profile v1\n40\n7\n12\n", TestContext.Current.CancellationToken);
        await RunBmcastAsync("image", "profile", "img", "--from", dir.File("boot-profile"), "--store", store);

        await WaitForTargetAsync(veth.HostInterface, shelf: (ushort)(profileShelf ?? 4));
        string source = $"aoe:{veth.HostInterface}/e2.0" + (profileShelf is { } given ? $"?profile-shelf={given}" : "");
        string stderr = await StreamToCompletionAsync(veth, dir, verified: true, source);
        Assert.Contains("prefetching 3 chunks of the boot profile first", stderr);
    }

    /// <summary>
    /// An image imported while the server runs is exported within a refresh, on the slot it was given (the next one,
    /// though its name sorts first), and the image served before keeps its slot.
    /// </summary>
    [Fact]
    public async Task AnImageImportedWhileServingIsStreamedFromItsOwnSlot()
    {
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        string store = await ImportAsync(dir);
        await using var server = await ServeAsync(veth, store);
        byte[] later = ReadOnlyTestDevice.RandomData(4 << 20, seed: ImageSeed + 1);
        await File.WriteAllBytesAsync(dir.File("later.raw"), later, TestContext.Current.CancellationToken);
        await RunBmcastAsync("image", "import", dir.File("later.raw"), "--name", "aaa", "--store", store);

        await WaitForTargetAsync(veth.HostInterface, slot: 1);
        await StreamToCompletionAsync(veth, dir, verified: true, $"aoe:{veth.HostInterface}/e2.1", expected: later);
        File.Delete(dir.File("target.raw"));
        File.Delete(dir.File("target.raw.bmcast-state"));
        await StreamToCompletionAsync(veth, dir, verified: true);
    }

    /// <summary>Our target always has a companion: not finding it (shelves that do not match) is refused, not streamed unverified.</summary>
    [Fact]
    public async Task ABmcastTargetWhoseCompanionIsNotFoundIsRefused()
    {
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        string store = await ImportAsync(dir);
        await using var server = await ServeAsync(veth, store, "--aoe-manifest-shelf", "7");

        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), StreamArguments(veth, dir)); // looks on shelf 3

        Assert.Equal(1, code);
        Assert.Contains("is a bmcast target but no manifest came from its companion slot", error);
        Assert.DoesNotContain("UNVERIFIED", error);
    }

    [Fact]
    public async Task ACompanionServingATamperedManifestIsRefused()
    {
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        string store = await ImportAsync(dir);
        // One bit of the signature: the manifest still decodes (the root hash covers the body only) but no longer verifies.
        string manifestFile = Path.Combine(store, "images", "img", "manifest");
        byte[] encoded = await File.ReadAllBytesAsync(manifestFile, TestContext.Current.CancellationToken);
        var manifest = Manifest.Decode(encoded);
        encoded[encoded.Length - 2 - manifest.PublicKey.Length - manifest.Signature.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(manifestFile, encoded, TestContext.Current.CancellationToken);
        await using var server = await ServeAsync(veth, store);

        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2), StreamArguments(veth, dir));

        Assert.Equal(1, code);
        Assert.Contains("invalid signature: refusing to stream", error);
        Assert.DoesNotContain("UNVERIFIED", error);
    }

    [Fact]
    public async Task VbladeHasNoCompanionSoTheStreamIsUnverifiedUnlessAKeyIsRequired()
    {
        string vblade = AoePeerTests.RequireAoeTool("vblade");
        await using var veth = await VethNamespace.CreateAsync();
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("image.raw"), Image, TestContext.Current.CancellationToken);
        await using var server = ExternalTool.StartBackground("ip", veth.Exec(vblade, "-r", "2", "0", veth.FarInterface, dir.File("image.raw")));
        await WaitForTargetAsync(veth.HostInterface);

        string stderr = await StreamToCompletionAsync(veth, dir, verified: false);
        Assert.Contains($"no AoE target answered at aoe:{veth.HostInterface}/e3.0, where the image's manifest would be", stderr);
        Assert.Contains("streaming UNVERIFIED", stderr);
        Assert.Contains($"no AoE target answered at aoe:{veth.HostInterface}/e4.0, where the image's boot profile would be", stderr);

        // Refused while connecting, before the (complete) deployment is opened again.
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(2),
            [.. StreamArguments(veth, dir), "--trust-key", new string('a', 64)]);
        Assert.Equal(1, code);
        Assert.Contains("refusing to stream unverified", error);
    }

    private static readonly byte[] Image = ReadOnlyTestDevice.RandomData(8 << 20, seed: ImageSeed);

    private static async Task<string> ImportAsync(TempDirectory dir)
    {
        await File.WriteAllBytesAsync(dir.File("image.raw"), Image, TestContext.Current.CancellationToken);
        string store = dir.File("store");
        await RunBmcastAsync("image", "import", dir.File("image.raw"), "--name", "img", "--store", store);
        return store;
    }

    /// <summary><c>bmcast serve --aoe</c> on the far end: the image at e2.0, its manifest (by default) at e3.0.</summary>
    private static async Task<ExternalTool.BackgroundProcess> ServeAsync(VethNamespace veth, string store, params string[] extra)
    {
        string us = NetworkInterfaceInfo.Read(veth.HostInterface).Address.ToString();
        var server = ExternalTool.StartBackground("ip", veth.Exec(["dotnet", Path.Combine(AppContext.BaseDirectory, "bmcast.dll"),
            "serve", "--aoe", veth.FarInterface, "--aoe-shelf", "2", "--aoe-allow", us, "--store", store, .. extra]));
        try
        {
            await WaitForTargetAsync(veth.HostInterface);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static string[] StreamArguments(VethNamespace veth, TempDirectory dir, string? source = null) =>
    [
        "stream", "--source", source ?? $"aoe:{veth.HostInterface}/e2.0", "--target", dir.File("target.raw"),
        "--export", "unix:" + dir.File("agent.sock"), "--known-keys", dir.File("known_keys"), "--json",
    ];

    /// <summary>Stream until complete; checks how it started and that the target equals the image; returns the agent's log.</summary>
    private static async Task<string> StreamToCompletionAsync(VethNamespace veth, TempDirectory dir, bool verified, string? source = null,
        byte[]? expected = null, params string[] extra)
    {
        await using var agent = BmcastProcess.Start([.. StreamArguments(veth, dir, source), .. extra]);
        var started = await agent.WaitForEventAsync("started", TimeSpan.FromSeconds(60));
        Assert.Equal(verified, started.GetProperty("verified").GetBoolean());
        await agent.WaitForEventAsync("complete", TimeSpan.FromSeconds(60));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
        byte[] target = await File.ReadAllBytesAsync(dir.File("target.raw"), TestContext.Current.CancellationToken);
        Assert.True((expected ?? Image).AsSpan().SequenceEqual(target), "the streamed disk differs from the image");
        return agent.Stderr;
    }

    /// <summary>A loaded machine may take seconds to start dotnet: wait until the target answers eSHELF.SLOT before timing the agent.</summary>
    private static async Task WaitForTargetAsync(string hostInterface, byte slot = 0, ushort shelf = 2)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                await using var probe = await AoeInitiator.ConnectAsync(PacketSocketChannel.Open(hostInterface), shelf, slot,
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
