using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// <c>bmcast serve</c> requiring TLS and client certificates, with the image allowed to alice only, and
/// <c>bmcast stream</c> fetching it over <c>nbds+unix://</c>: alice streams a verified copy; a wrong CA or a client
/// not on the allow list each fail with one line saying why.
/// </summary>
public sealed class TlsDeploymentTests
{
    [Fact(Timeout = 120_000)]
    public async Task Stream_over_tls_completes_and_each_refusal_is_one_clear_line()
    {
        var ct = TestContext.Current.CancellationToken;
        using var scratch = new TempDirectory();
        var image = new byte[4 << 20];
        new Random(5).NextBytes(image);
        await File.WriteAllBytesAsync(scratch.File("image.raw"), image, ct);
        string server = scratch.File("server"), alice = scratch.File("alice"), bob = scratch.File("bob");
        TestPki.Instance.WriteServerFiles(server);
        TestPki.Instance.WriteClientFiles(alice, TestPki.AliceName);
        TestPki.Instance.WriteClientFiles(bob, TestPki.BobName);
        TestPki.Instance.WriteRogueCa(scratch.File("rogue-ca.pem"));
        await using var rig = await DeploymentRig.StartAsync(scratch.File("image.raw"), "disk",
            "--tls-cert", Path.Combine(server, "server-cert.pem"), "--tls-key", Path.Combine(server, "server-key.pem"),
            "--tls-client-ca", Path.Combine(server, "ca-cert.pem"), "--tls-allow", "disk=" + TestPki.AliceName);
        rig.TlsSource = true;
        string[] Credentials(string directory, string? ca = null) =>
            ["--tls-ca", ca ?? Path.Combine(directory, "ca-cert.pem"), "--tls-cert", Path.Combine(directory, "client-cert.pem"), "--tls-key", Path.Combine(directory, "client-key.pem")];

        string target = rig.Directory.File("target.raw");
        var agent = await rig.StartAgentAsync("disk", target, rig.Directory.File("agent.sock"), Credentials(alice));
        await agent.WaitForEventAsync("complete", TimeSpan.FromSeconds(60));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("verified", agent.Stderr);
        byte[] copy = await File.ReadAllBytesAsync(target, ct);
        Assert.True(image.AsSpan().SequenceEqual(copy), "target differs from the image");

        string untrusted = await RefusedAsync(rig, Credentials(alice, scratch.File("rogue-ca.pem")));
        string notAllowed = await RefusedAsync(rig, Credentials(bob));
        string plaintext = await RefusedAsync(rig, [], tls: false);

        Assert.Contains("is not trusted", untrusted);
        Assert.Contains("may not open 'disk'", notAllowed);
        Assert.Contains("requires TLS", plaintext);
    }

    /// <summary>Run a stream that must fail before it starts; its one error line.</summary>
    private static async Task<string> RefusedAsync(DeploymentRig rig, string[] credentials, bool tls = true)
    {
        rig.TlsSource = tls;
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromSeconds(60), ["stream", "--source", rig.SourceUri("disk"),
            "--target", rig.Directory.File("refused.raw"), "--export", "unix:" + rig.Directory.File("refused.sock"), .. credentials]);
        Assert.Equal(1, code);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one error line, got:\n{error}");
        return lines[0];
    }
}
