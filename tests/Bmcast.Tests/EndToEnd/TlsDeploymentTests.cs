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

    [Fact(Timeout = 120_000)]
    public async Task Incomplete_or_bad_tls_options_are_one_line_each()
    {
        using var scratch = new TempDirectory();
        TestPki.Instance.WriteServerFiles(scratch.Path);
        string cert = scratch.File("server-cert.pem"), key = scratch.File("server-key.pem"), ca = scratch.File("ca-cert.pem");
        string[] serve = ["serve", "--store", scratch.File("store"), "--nbd", "unix:" + scratch.File("s.sock")];

        var refusals = await Task.WhenAll(
            OneLineFailureAsync([.. serve, "--tls-cert", cert]),
            OneLineFailureAsync([.. serve, "--tls-cert", cert, "--tls-key", key, "--tls-allow", "disk=alice"]),
            OneLineFailureAsync([.. serve, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca, "--tls-allow", "disk"]),
            OneLineFailureAsync([.. serve, "--tls-cert", key, "--tls-key", key]),
            OneLineFailureAsync(["stream", "--source", $"nbd+unix:///disk?socket={scratch.File("s.sock")}", "--tls-ca", ca,
                "--target", scratch.File("t.raw"), "--export", "unix:" + scratch.File("e.sock")]));

        Assert.Contains("TLS needs both --tls-cert and --tls-key", refusals[0]);
        Assert.Contains("--tls-allow) need a client CA (--tls-client-ca)", refusals[1]);
        Assert.Contains("--tls-allow 'disk' is not IMAGE=CN[,CN...]", refusals[2]);
        Assert.Contains("not a usable PEM certificate/key", refusals[3]);
        Assert.Contains("need a TLS source (nbds:// or nbds+unix://)", refusals[4]);
    }

    /// <summary>Run a stream that must fail before it starts; its one error line.</summary>
    private static async Task<string> RefusedAsync(DeploymentRig rig, string[] credentials, bool tls = true)
    {
        rig.TlsSource = tls;
        return await OneLineFailureAsync(["stream", "--source", rig.SourceUri("disk"),
            "--target", rig.Directory.File("refused.raw"), "--export", "unix:" + rig.Directory.File("refused.sock"), .. credentials]);
    }

    /// <summary>Run a bmcast command that must fail at once (exit 1); its one line on stderr.</summary>
    private static async Task<string> OneLineFailureAsync(string[] arguments)
    {
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromSeconds(60), arguments);
        Assert.True(code == 1, $"bmcast {string.Join(' ', arguments)} exited {code}: {error}");
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one error line, got:\n{error}");
        return lines[0];
    }
}
