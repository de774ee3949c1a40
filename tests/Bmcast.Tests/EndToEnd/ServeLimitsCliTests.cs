using System.Net.Sockets;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// <c>bmcast serve --max-connections --handshake-timeout</c> reach the server (the limits themselves are tested in
/// NbdServerLimitsTests), and a nonsensical value is one operator error line.
/// </summary>
public sealed class ServeLimitsCliTests
{
    private const int GreetingSize = 18;

    [Fact(Timeout = 120_000)]
    public async Task Serve_refuses_connections_past_the_limit_and_drops_a_silent_client()
    {
        var ct = TestContext.Current.CancellationToken;
        using var scratch = new TempDirectory();
        string socketPath = scratch.File("serve.sock");
        await using var server = BmcastProcess.Start("serve", "--store", scratch.File("store"), "--nbd", "unix:" + socketPath,
            "--max-connections", "1", "--handshake-timeout", "1");
        while (!File.Exists(socketPath))
        {
            Assert.False(server.HasExited, server.Stderr);
            await Task.Delay(20, ct);
        }

        using var silent = await ConnectAsync(socketPath, ct);
        Assert.Equal(GreetingSize, await SocketReceive.UntilClosedOrAsync(silent, GreetingSize, ct));
        using (var extra = await ConnectAsync(socketPath, ct))
            Assert.Equal(0, await SocketReceive.UntilClosedOrAsync(extra, GreetingSize, ct));
        // Nothing more from us: after the one-second handshake timeout the server hangs up.
        Assert.Equal(0, await SocketReceive.UntilClosedOrAsync(silent, 1, ct));
    }

    [Theory(Timeout = 120_000)]
    [InlineData("--max-connections")]
    [InlineData("--max-connections-per-peer")]
    public async Task A_limit_that_is_not_positive_is_one_error_line(string option)
    {
        using var scratch = new TempDirectory();
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1),
            "serve", "--store", scratch.File("store"), "--nbd", "unix:" + scratch.File("serve.sock"), option, "0");

        Assert.Equal(1, code);
        Assert.Contains($"{option} must be positive", error);
        Assert.DoesNotContain(" at ", error);
    }

    private static async Task<Socket> ConnectAsync(string path, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
        return socket;
    }
}
