using System.Net;

namespace Bmcast.Agent.Metrics;

/// <summary>The <c>HOST:PORT</c> an HTTP listener binds (<c>--metrics</c>, the controller's <c>--listen</c>): an IP address or localhost; port 0 picks a free one.</summary>
public static class ListenAddress
{
    public static IPEndPoint Parse(string text, string option)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(text[(colon + 1)..], out ushort port))
            throw new ArgumentException($"{option} '{text}' is not HOST:PORT");
        string host = text[..colon].Trim('[', ']');
        var address = host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw new ArgumentException($"{option} '{text}': give an IP address (or localhost) as HOST");
        return new IPEndPoint(address, port);
    }
}
