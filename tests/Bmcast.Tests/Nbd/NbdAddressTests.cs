using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Xunit;

namespace Bmcast.Tests.Nbd;

public sealed class NbdAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:10809", "127.0.0.1", 10809, null)]
    [InlineData("localhost:0", "localhost", 0, null)]
    [InlineData("[::1]:5000", "::1", 5000, null)]
    [InlineData("unix:/run/bmcast/nbd.sock", null, 0, "/run/bmcast/nbd.sock")]
    public void Endpoint_parses(string text, string? host, int port, string? socket)
    {
        var endpoint = NbdEndpoint.Parse(text);
        Assert.Equal((host, port, socket), (endpoint.Host, endpoint.Port, endpoint.UnixSocketPath));
        Assert.Equal(text, endpoint.ToString());
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("::1:5000")]
    [InlineData("[::1:5000")]
    [InlineData("host:99999")]
    [InlineData("host:-1")]
    [InlineData("unix:")]
    public void Endpoint_rejects(string text) =>
        Assert.ThrowsAny<Exception>(() => NbdEndpoint.Parse(text));

    [Theory]
    [InlineData("nbd://example.com/debian", "example.com", 10809, null, "debian")]
    [InlineData("nbd://example.com:2000/manifest:debian", "example.com", 2000, null, "manifest:debian")]
    [InlineData("nbd://[::1]:2000/a%20b", "::1", 2000, null, "a b")]
    [InlineData("nbd://host", "host", 10809, null, "")]
    [InlineData("nbd+unix:///disk?socket=/tmp/s.sock", null, 0, "/tmp/s.sock", "disk")]
    [InlineData("nbd+unix://?socket=/tmp/s.sock", null, 0, "/tmp/s.sock", "")]
    [InlineData("nbds://example.com/debian", "example.com", 10809, null, "debian")]
    [InlineData("nbds+unix:///disk?socket=/tmp/s.sock", null, 0, "/tmp/s.sock", "disk")]
    public void Uri_parses(string text, string? host, int port, string? socket, string export)
    {
        var uri = NbdUri.Parse(text);
        Assert.Equal((host, port, socket, export), (uri.Endpoint.Host, uri.Endpoint.Port, uri.Endpoint.UnixSocketPath, uri.ExportName));
        Assert.Equal(text.StartsWith("nbds", StringComparison.Ordinal), uri.Tls);
        Assert.Equal(uri, NbdUri.Parse(uri.ToString()));
    }

    [Theory]
    [InlineData("nbdx://host/x")]
    [InlineData("nbd+unix:///x")]
    [InlineData("nbds+unix:///x")]
    [InlineData("nbds://host/x?socket=/s")]
    [InlineData("nbd+unix://host/x?socket=/s")]
    [InlineData("nbd://host/x?socket=/s")]
    [InlineData("nbd://host:port/x")]
    [InlineData("nbd:///x")]
    [InlineData("/dev/nbd0")]
    public void Uri_rejects(string text) =>
        Assert.Throws<FormatException>(() => NbdUri.Parse(text));
}
