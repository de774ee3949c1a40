using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Bmcast.Tests.Support;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// TLS against peers we did not write (GnuTLS inside): libnbd's tools and QEMU as clients of our server, nbdkit as the
/// servers for our client (nbdkit, qemu-nbd). Our server requires client certificates from the test CA and allows <c>disk</c> to alice only.
/// </summary>
public sealed class NbdTlsPeerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<PeerEnvironment> StartAsync() => PeerEnvironment.StartAsync(unixSocket: true, new NbdServerOptions
    {
        Tls = TestPki.Instance.ServerTls(clientCertificates: true,
            new Dictionary<string, IReadOnlySet<string>> { ["disk"] = new HashSet<string> { TestPki.AliceName } }),
    });

    /// <summary>A libnbd TLS URI with the credentials in <paramref name="directory"/>.</summary>
    private static string LibnbdUri(PeerEnvironment env, string export, string directory) =>
        $"nbds+unix:///{export}?socket={env.Server.Endpoint.UnixSocketPath}&tls-certificates={directory}";

    private static string ClientFiles(PeerEnvironment env, string? client, string name)
    {
        string directory = env.Directory.File(name);
        TestPki.Instance.WriteClientFiles(directory, client);
        return directory;
    }

    [Fact(Timeout = 30_000)]
    public async Task Nbdcopy_reads_an_image_over_tls_with_a_client_certificate()
    {
        ExternalTool.Require("nbdcopy");
        await using var env = await StartAsync();
        string copy = env.Directory.File("copy.raw");

        await ExternalTool.RunCheckedAsync("nbdcopy", LibnbdUri(env, "disk", ClientFiles(env, TestPki.AliceName, "alice")), copy);

        Assert.Equal(env.Image, File.ReadAllBytes(copy));
    }

    [Fact(Timeout = 30_000)]
    public async Task Nbdinfo_without_tls_is_refused()
    {
        ExternalTool.Require("nbdinfo");
        await using var env = await StartAsync();

        var result = await ExternalTool.RunAsync("nbdinfo", env.Server.Uri("disk"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("server replied with error", result.Error); // libnbd does not name the reply; our log does.
        Assert.Contains(env.Server.Logger.Lines, l => l.Contains("option Go answered ErrTlsReqd"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Nbdinfo_without_a_client_certificate_is_refused()
    {
        ExternalTool.Require("nbdinfo");
        await using var env = await StartAsync();

        var result = await ExternalTool.RunAsync("nbdinfo", LibnbdUri(env, "disk", ClientFiles(env, null, "anonymous")));

        Assert.NotEqual(0, result.ExitCode);
        Assert.True(await env.Server.Logger.WaitForLineAsync("TLS handshake failed"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Nbdinfo_as_a_client_not_on_the_allow_list_neither_lists_nor_opens_the_image()
    {
        ExternalTool.Require("nbdinfo");
        await using var env = await StartAsync();
        string bob = ClientFiles(env, TestPki.BobName, "bob");

        string listing = await ExternalTool.RunCheckedAsync("nbdinfo", "--list", LibnbdUri(env, "", bob));
        var opening = await ExternalTool.RunAsync("nbdinfo", LibnbdUri(env, "disk", bob));

        Assert.Contains("export=\"sparse\"", listing);
        Assert.DoesNotContain("export=\"disk\"", listing);
        Assert.NotEqual(0, opening.ExitCode);
        Assert.Contains("server replied with error", opening.Error);
        Assert.Contains(env.Server.Logger.Lines, l => l.Contains("client bob refused export 'disk'"));
    }

    /// <summary>QEMU insists on a name to check even over a unix socket, so it is given the certificate's.</summary>
    [Fact(Timeout = 30_000)]
    public async Task Qemu_img_reads_an_image_over_tls()
    {
        ExternalTool.Require("qemu-img");
        await using var env = await StartAsync();
        string alice = ClientFiles(env, TestPki.AliceName, "alice");
        string copy = env.Directory.File("copy.raw");

        await ExternalTool.RunCheckedAsync("qemu-img", "convert", "--object", $"tls-creds-x509,id=tls0,dir={alice},endpoint=client",
            "--image-opts", $"driver=nbd,server.type=unix,server.path={env.Server.Endpoint.UnixSocketPath},export=disk,tls-creds=tls0,tls-hostname=localhost",
            "-O", "raw", copy);

        Assert.Equal(env.Image, File.ReadAllBytes(copy));
    }

    [Theory(Timeout = 30_000)]
    [InlineData("nbdkit")]
    [InlineData("qemu-nbd")]
    public async Task Our_client_reads_from_a_server_requiring_tls_and_a_client_certificate(string server)
    {
        using var directory = new TempDirectory();
        var image = PeerEnvironment.CreateImage();
        string path = directory.File("image.raw");
        PeerEnvironment.WriteSparse(path, image);
        string pki = directory.File("pki");
        TestPki.Instance.WriteServerFiles(pki);
        string socket = directory.File("server.sock");
        await using var peer = server == "nbdkit"
            ? ExternalTool.StartBackground("nbdkit", "--foreground", "--readonly", "--unix", socket,
                "--tls=require", "--tls-certificates=" + pki, "--tls-verify-peer", "file", path)
            : ExternalTool.StartBackground("qemu-nbd", "--object", $"tls-creds-x509,id=tls0,dir={pki},endpoint=server,verify-peer=on",
                "--tls-creds=tls0", "--read-only", "--persistent", "--shared=4", "--format=raw", "--export-name=", "--socket=" + socket, path);
        await peer.WaitForSocketAsync(socket);
        var uri = NbdUri.Parse($"nbds+unix:///?socket={socket}");

        await using (var client = await NbdClient.ConnectAsync(uri, TestPki.Instance.ClientTls(TestPki.AliceName), Ct))
        {
            var bytes = new byte[client.Size];
            await client.ReadAsync(0, bytes, Ct);
            Assert.Equal(image, bytes);
        }
        var anonymous = await Assert.ThrowsAnyAsync<IOException>(() => NbdClient.ConnectAsync(uri, TestPki.Instance.ClientTls(null), Ct));
        var plaintext = await Assert.ThrowsAnyAsync<IOException>(() => NbdClient.ConnectAsync(NbdUri.Parse($"nbd+unix:///?socket={socket}"), Ct));

        Assert.Contains("TLS", anonymous.Message);
        Assert.Contains("requires TLS", plaintext.Message);
    }
}
