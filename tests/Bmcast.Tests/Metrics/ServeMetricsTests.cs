using System.Net;
using System.Net.Sockets;
using Bmcast.Protocols.Nbd;
using Bmcast.Tests.EndToEnd;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.Metrics;

/// <summary>
/// <c>bmcast serve --metrics</c> scraped while real clients read from it: nbdcopy and qemu-img copy the image (scrapes
/// during the copy see it part-way, and the read bytes move by what each copy moved), a raw client's read past the end
/// is counted as an EINVAL error, and every page keeps the naming rules. A busy port is refused with one error line.
/// </summary>
public sealed class ServeMetricsTests
{
    private const int DataBytes = 8 << 20;
    private const int ImageBytes = 12 << 20;

    [Fact]
    public async Task Serve_metrics_count_the_requests_errors_and_bytes_of_real_clients()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("nbdcopy");
        ExternalTool.Require("qemu-img");
        using var scratch = new TempDirectory();
        var image = new byte[ImageBytes];
        new Random(7).NextBytes(image.AsSpan(0, DataBytes)); // then zeroes, which block status reports as holes
        string imagePath = scratch.File("image.raw");
        await File.WriteAllBytesAsync(imagePath, image, ct);
        // An emulated 4 MB/s link: each copy takes seconds, long enough to be scraped half-way.
        await using var rig = await DeploymentRig.StartAsync(imagePath, "disk", "--rate", "4M", "--metrics", "127.0.0.1:0");
        var url = await PrometheusPage.UrlOfAsync(rig.Server, ct);
        string source = $"nbd+unix:///disk?socket={rig.ServerSocket}";

        var before = await PrometheusPage.ScrapeAsync(url, ct);
        var copy = ExternalTool.RunCheckedAsync(TimeSpan.FromMinutes(2), "nbdcopy", source, scratch.File("copy1.raw"));
        var during = new List<double>();
        while (!copy.IsCompleted)
        {
            during.Add(Read(await PrometheusPage.ScrapeAsync(url, ct)) - Read(before));
            await Task.WhenAny(copy, Task.Delay(100, ct));
        }
        await copy;
        var afterNbdcopy = await PrometheusPage.ScrapeAsync(url, ct);
        await ExternalTool.RunCheckedAsync(TimeSpan.FromMinutes(2), "qemu-img", "convert", "-f", "raw", "-O", "raw", source, scratch.File("copy2.raw"));
        var afterQemuImg = await PrometheusPage.ScrapeAsync(url, ct);
        await ReadPastTheEndAsync(rig.ServerSocket, ct);
        var afterError = await PrometheusPage.ScrapeAsync(url, ct);

        Assert.True(during.Any(read => read is > 0 and < DataBytes), $"no scrape saw the copy half-way: {string.Join(", ", during)}");
        Assert.True(during.SequenceEqual(during.Order()), "the read bytes went down between scrapes");
        // Each copy reads the data, and none of the zeroes block status tells it about.
        Assert.InRange(Read(afterNbdcopy) - Read(before), DataBytes, ImageBytes);
        Assert.InRange(Read(afterQemuImg) - Read(afterNbdcopy), DataBytes, ImageBytes);
        Assert.True(Delta(before, afterNbdcopy, "bmcast_nbd_requests_total", "export=disk", "command=read") >= 1);
        Assert.True(Delta(before, afterNbdcopy, "bmcast_nbd_requests_total", "export=disk", "command=block_status") >= 1);
        Assert.True(Delta(afterNbdcopy, afterQemuImg, "bmcast_nbd_requests_total", "export=disk", "command=read") >= 1);
        Assert.True(Delta(before, afterQemuImg, "bmcast_nbd_connections_total") >= 2);
        Assert.Equal(0, afterQemuImg.Sum("bmcast_nbd_errors_total"));
        Assert.Equal(1, afterError.Single("bmcast_nbd_errors_total", "export=disk", "command=read", "error=EINVAL"));
        Assert.Equal(1, Delta(afterQemuImg, afterError, "bmcast_nbd_requests_total", "export=disk", "command=read"));
        foreach (var page in new[] { before, afterNbdcopy, afterQemuImg, afterError })
            page.AssertFollowsNamingRules();
    }

    [Fact]
    public async Task A_busy_metrics_port_is_one_error_line()
    {
        using var scratch = new TempDirectory();
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;

        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1),
            "serve", "--store", scratch.File("store"), "--nbd", "unix:" + scratch.File("serve.sock"), "--metrics", $"127.0.0.1:{port}");

        Assert.Equal(1, code);
        Assert.Contains($"--metrics 127.0.0.1:{port}", error);
        Assert.Contains("in use", error);
        Assert.DoesNotContain(" at ", error);
        Assert.False(File.Exists(scratch.File("serve.sock")), "the server started although its metrics could not");
    }

    private static double Read(PrometheusPage page) => page.Sum("bmcast_nbd_bytes_total", "export=disk", "op=read");

    private static double Delta(PrometheusPage from, PrometheusPage to, string name, params string[] labels) =>
        to.Sum(name, labels) - from.Sum(name, labels);

    /// <summary>A READ of 4 KiB at the image's end, which the server refuses as invalid.</summary>
    private static async Task ReadPastTheEndAsync(string socketPath, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token);
        var peer = new RawNbdPeer(new StreamDuplexPipe(new NetworkStream(socket)));
        await peer.GreetAsync(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes).WaitAsync(timeout.Token);
        Assert.Equal(NbdOptionReply.Ack, await peer.GoAsync("disk").WaitAsync(timeout.Token));
        await peer.SendAsync(RawNbdPeer.Request(NbdCommand.Read, 9, ImageBytes, 4096));
        Assert.Equal(NbdError.Inval, await peer.ReadSimpleReplyAsync(9).WaitAsync(timeout.Token));
    }
}
