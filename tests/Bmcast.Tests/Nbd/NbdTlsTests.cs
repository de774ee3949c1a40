using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;
using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// TLS between our client and our server: forced TLS, client certificates, per-image allow lists, and each
/// refusal with the error an operator sees. The server runs with client certificates required and
/// <c>disk</c> (with its manifest) allowed to alice only.
/// </summary>
public sealed class NbdTlsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly Dictionary<string, IReadOnlySet<string>> DiskForAlice = new() { ["disk"] = new HashSet<string> { TestPki.AliceName } };

    private static Task<PeerEnvironment> StartAsync(bool unixSocket = true, bool clientCertificates = true) =>
        PeerEnvironment.StartAsync(unixSocket, new NbdServerOptions
        {
            Tls = TestPki.Instance.ServerTls(clientCertificates, clientCertificates ? DiskForAlice : null),
        });

    /// <summary>For what happens before STARTTLS, which needs no real connection.</summary>
    private static NbdServer InMemoryTlsServer() => new(InMemoryServer.SmallCatalog(out _), new TestLogger<NbdServer>(),
        new NbdServerOptions { Tls = TestPki.Instance.ServerTls(clientCertificates: false) });

    private static NbdUri Tls(PeerEnvironment env, string export) => NbdUri.Create(env.Server.Endpoint, export, tls: true);

    [Theory(Timeout = 30_000)]
    [InlineData(true)]
    [InlineData(false)] // nbds://127.0.0.1: the name checked is the address, against the certificate's IP subjectAltName.
    public async Task Reads_an_allowed_export_and_its_manifest_over_tls(bool unixSocket)
    {
        await using var env = await StartAsync(unixSocket);

        await using var client = await NbdClient.ConnectAsync(Tls(env, "disk"), TestPki.Instance.ClientTls(TestPki.AliceName), Ct);
        var bytes = new byte[client.Size];
        await client.ReadAsync(0, bytes, Ct);
        byte[] manifest = await ReadAllAsync(Tls(env, ExportNames.ManifestOf("disk")), TestPki.AliceName);

        Assert.Equal(env.Image, bytes);
        Assert.Equal(PeerEnvironment.ManifestBytes, manifest);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_client_not_on_the_allow_list_is_refused_the_image_and_its_companions_and_does_not_see_them_listed()
    {
        await using var env = await StartAsync();
        var bob = TestPki.Instance.ClientTls(TestPki.BobName);

        var image = await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ConnectAsync(Tls(env, "disk"), bob, Ct));
        var manifest = await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ConnectAsync(Tls(env, ExportNames.ManifestOf("disk")), bob, Ct));
        var listed = await NbdClient.ListExportsAsync(env.Server.Endpoint, bob, Ct);
        await using var open = await NbdClient.ConnectAsync(Tls(env, "sparse"), bob, Ct);

        Assert.Equal(NbdOptionReply.ErrPolicy, image.Reply);
        Assert.Equal(NbdOptionReply.ErrPolicy, manifest.Reply);
        Assert.Contains("may not open 'disk'", image.Message);
        Assert.Equal(["scratch", "sparse"], listed.Select(e => e.Name).Order());
        Assert.Contains(env.Server.Logger.Lines, l => l.Contains("client bob refused export 'disk'"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_client_without_a_certificate_is_refused_with_a_hint()
    {
        await using var env = await StartAsync();

        var e = await Assert.ThrowsAsync<IOException>(() => NbdClient.ConnectAsync(Tls(env, "sparse"), TestPki.Instance.ClientTls(null), Ct));

        Assert.Contains("--tls-cert", e.Message);
        Assert.True(await env.Server.Logger.WaitForLineAsync("TLS handshake failed, closing connection: the client sent no certificate"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_client_certificate_from_another_ca_is_refused()
    {
        await using var env = await StartAsync();

        var e = await Assert.ThrowsAsync<IOException>(() =>
            NbdClient.ConnectAsync(Tls(env, "sparse"), TestPki.Instance.ClientTls(TestPki.AliceName, rogueClient: true), Ct));

        Assert.Contains("ended the TLS session", e.Message);
        Assert.True(await env.Server.Logger.WaitForLineAsync("TLS handshake failed, closing connection: the client's certificate (CN=alice) is not trusted"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_server_certificate_from_an_untrusted_ca_is_refused_by_the_client()
    {
        await using var env = await StartAsync(clientCertificates: false);

        var e = await Assert.ThrowsAsync<IOException>(() =>
            NbdClient.ConnectAsync(Tls(env, "disk"), TestPki.Instance.ClientTls(null, trustRogueCa: true), Ct));

        Assert.Contains("server's certificate (CN=localhost) is not trusted", e.Message);
        Assert.Contains("--tls-ca", e.Message);
    }

    [Fact(Timeout = 30_000)]
    public async Task The_server_name_is_checked_over_tcp_but_not_over_a_unix_socket()
    {
        var options = new NbdServerOptions { Tls = TestPki.Instance.ServerTls(clientCertificates: false, wrongName: true) };
        await using var tcp = await PeerEnvironment.StartAsync(unixSocket: false, options);
        await using var unix = await PeerEnvironment.StartAsync(unixSocket: true, options);

        var e = await Assert.ThrowsAsync<IOException>(() => NbdClient.ConnectAsync(Tls(tcp, "disk"), TestPki.Instance.ClientTls(null), Ct));
        await using var client = await NbdClient.ConnectAsync(Tls(unix, "disk"), TestPki.Instance.ClientTls(null), Ct);

        Assert.Contains("the server's certificate (CN=elsewhere) is not valid for '127.0.0.1'", e.Message);
        Assert.Equal(PeerEnvironment.ImageSize, client.Size);
    }

    [Fact(Timeout = 30_000)]
    public async Task Without_client_ca_any_client_that_completes_tls_is_served()
    {
        await using var env = await StartAsync(clientCertificates: false);

        await using var anonymous = await NbdClient.ConnectAsync(Tls(env, "disk"), TestPki.Instance.ClientTls(null), Ct);
        // A certificate nobody asked for (libnbd sends one when it has one) is not judged.
        await using var rogue = await NbdClient.ConnectAsync(Tls(env, "disk"), TestPki.Instance.ClientTls(TestPki.AliceName, rogueClient: true), Ct);

        Assert.Equal(PeerEnvironment.ImageSize, anonymous.Size);
        Assert.Equal(PeerEnvironment.ImageSize, rogue.Size);
    }

    [Fact(Timeout = 30_000)]
    public async Task Before_starttls_every_option_but_abort_is_refused_with_tls_reqd()
    {
        var peer = InMemoryServer.Start(InMemoryTlsServer()).Peer;
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle);

        foreach (var option in new[] { NbdOption.List, NbdOption.StructuredReply, NbdOption.ListMetaContext, (NbdOption)0x1234 })
        {
            await peer.SendOptionAsync(option, []);
            var reply = await peer.ReadOptionReplyAsync();
            Assert.Equal((option, NbdOptionReply.ErrTlsReqd), (reply.Option, reply.Type));
        }
        Assert.Equal(NbdOptionReply.ErrTlsReqd, await peer.GoAsync("ro"));
        await peer.SendOptionAsync(NbdOption.StartTls, [1]);
        Assert.Equal(NbdOptionReply.ErrInvalid, (await peer.ReadOptionReplyAsync()).Type);
        await peer.SendOptionAsync(NbdOption.Abort, []);
        Assert.Equal(NbdOptionReply.Ack, (await peer.ReadOptionReplyAsync()).Type);
    }

    [Fact(Timeout = 30_000)]
    public async Task Export_name_without_tls_closes_the_connection()
    {
        var connection = InMemoryServer.Start(InMemoryTlsServer());
        await connection.Peer.GreetAsync(NbdClientFlags.FixedNewstyle);

        await connection.Peer.SendOptionAsync(NbdOption.ExportName, "ro"u8.ToArray());

        Assert.True(await connection.Peer.IsClosedAsync());
    }

    [Fact(Timeout = 30_000)]
    public async Task A_plaintext_client_is_told_to_use_tls()
    {
        await using var env = await StartAsync();

        var e = await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ConnectAsync(NbdUri.Create(env.Server.Endpoint, "disk"), Ct));

        Assert.Equal(NbdOptionReply.ErrTlsReqd, e.Reply);
        Assert.Contains("nbds://", e.Message);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_tls_client_refuses_a_plaintext_server()
    {
        await using var env = await PeerEnvironment.StartAsync(unixSocket: true);

        var e = await Assert.ThrowsAsync<IOException>(() => NbdClient.ConnectAsync(Tls(env, "disk"), TestPki.Instance.ClientTls(null), Ct));

        Assert.Contains("does not offer TLS", e.Message);
    }

    private static async Task<byte[]> ReadAllAsync(NbdUri uri, string client)
    {
        await using var connection = await NbdClient.ConnectAsync(uri, TestPki.Instance.ClientTls(client), Ct);
        var bytes = new byte[connection.Size];
        await connection.ReadAsync(0, bytes, Ct);
        return bytes;
    }
}
