using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Bmcast.Protocols.Nbd;

/// <summary>
/// Where an NBD server listens or a client connects: <c>HOST:PORT</c>, <c>[v6]:PORT</c> or <c>unix:PATH</c>.
/// </summary>
public sealed record NbdEndpoint
{
    private const string UnixPrefix = "unix:";

    private NbdEndpoint(string? host, int port, string? unixSocketPath)
    {
        Host = host;
        Port = port;
        UnixSocketPath = unixSocketPath;
    }

    /// <summary>Host name or address for TCP; null for a unix socket.</summary>
    public string? Host { get; }

    /// <summary>TCP port (0 = pick an ephemeral port when listening).</summary>
    public int Port { get; }

    public string? UnixSocketPath { get; }

    public bool IsUnix => UnixSocketPath is not null;

    public static NbdEndpoint Tcp(string host, int port)
    {
        if (string.IsNullOrEmpty(host))
            throw new ArgumentException("host is empty", nameof(host));
        if (port is < 0 or > IPEndPoint.MaxPort)
            throw new ArgumentOutOfRangeException(nameof(port), port, "not a TCP port");
        return new NbdEndpoint(host, port, null);
    }

    public static NbdEndpoint Unix(string path)
    {
        if (string.IsNullOrEmpty(path))
            throw new ArgumentException("unix socket path is empty", nameof(path));
        return new NbdEndpoint(null, 0, path);
    }

    public static NbdEndpoint Parse(string text)
    {
        if (text.StartsWith(UnixPrefix, StringComparison.Ordinal))
            return Unix(text[UnixPrefix.Length..]);
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port))
            throw new FormatException($"'{text}' is not HOST:PORT, [IPv6]:PORT or unix:PATH");
        string host = text[..colon];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']') || !IPAddress.TryParse(host[1..^1], out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
                throw new FormatException($"'{text}' has a malformed [IPv6] host");
            host = host[1..^1];
        }
        else if (host.Contains(':'))
            throw new FormatException($"'{text}': write IPv6 addresses in brackets, [ADDRESS]:PORT");
        return Tcp(host, port);
    }

    public override string ToString() => UnixSocketPath is not null ? UnixPrefix + UnixSocketPath
        : Host!.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Resolve to a socket address (the first address of a host name).</summary>
    internal async Task<EndPoint> ResolveAsync(CancellationToken cancellationToken)
    {
        if (UnixSocketPath is not null)
            return new UnixDomainSocketEndPoint(UnixSocketPath);
        if (IPAddress.TryParse(Host, out var address))
            return new IPEndPoint(address, Port);
        var addresses = await Dns.GetHostAddressesAsync(Host!, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
            throw new IOException($"{Host} has no addresses");
        return new IPEndPoint(addresses[0], Port);
    }

    /// <summary>Connect a stream socket to this endpoint, with Nagle off for TCP (requests are small and latency-bound).</summary>
    internal async Task<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        var endPoint = await ResolveAsync(cancellationToken).ConfigureAwait(false);
        var socket = CreateSocket(endPoint);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException e) when (UnixSocketPath is not null && !File.Exists(UnixSocketPath))
        {
            // The kernel's answer for a missing path (EADDRNOTAVAIL here) does not say what is wrong.
            socket.Dispose();
            throw new IOException($"no socket at {UnixSocketPath}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static Socket CreateSocket(EndPoint endPoint)
    {
        var protocol = endPoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, protocol);
        if (protocol == ProtocolType.Tcp)
            socket.NoDelay = true;
        return socket;
    }
}
