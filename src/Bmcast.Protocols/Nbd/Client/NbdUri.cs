using System.Globalization;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// An export's address in libnbd's URI syntax: <c>nbd://HOST[:PORT]/NAME</c> (default port 10809) or
/// <c>nbd+unix:///NAME?socket=PATH</c>, or with TLS (NBD_OPT_STARTTLS, required) <c>nbds://</c> and <c>nbds+unix://</c>.
/// The export name is the percent-decoded path without its leading slash.
/// </summary>
public sealed record NbdUri
{
    private const string TcpScheme = "nbd";
    private const string UnixScheme = "nbd+unix";
    private const string TlsTcpScheme = "nbds";
    private const string TlsUnixScheme = "nbds+unix";
    private const string SocketParameter = "socket";

    private NbdUri(NbdEndpoint endpoint, string exportName, bool tls)
    {
        Endpoint = endpoint;
        ExportName = exportName;
        Tls = tls;
    }

    public NbdEndpoint Endpoint { get; }

    public string ExportName { get; }

    /// <summary>Whether the connection must be upgraded to TLS before anything else is said (nbds schemes).</summary>
    public bool Tls { get; }

    public static NbdUri Create(NbdEndpoint endpoint, string exportName, bool tls = false) => new(endpoint, exportName, tls);

    /// <summary>Another export of the same server, over the same kind of connection.</summary>
    public NbdUri ForExport(string exportName) => new(Endpoint, exportName, Tls);

    public static NbdUri Parse(string text)
    {
        int schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
            throw Invalid(text, "no scheme");
        string scheme = text[..schemeEnd].ToLowerInvariant();
        string rest = text[(schemeEnd + 3)..];
        int queryStart = rest.IndexOf('?');
        string query = queryStart < 0 ? "" : rest[(queryStart + 1)..];
        rest = queryStart < 0 ? rest : rest[..queryStart];
        int pathStart = rest.IndexOf('/');
        string authority = pathStart < 0 ? rest : rest[..pathStart];
        string exportName = pathStart < 0 ? "" : Uri.UnescapeDataString(rest[(pathStart + 1)..]);
        string? socket = SocketPath(text, query);

        bool tls = scheme is TlsTcpScheme or TlsUnixScheme;
        return scheme switch
        {
            TcpScheme or TlsTcpScheme when socket is not null => throw Invalid(text, $"socket= only goes with {scheme}+unix://"),
            TcpScheme or TlsTcpScheme => new NbdUri(TcpEndpoint(text, authority), exportName, tls),
            UnixScheme or TlsUnixScheme when authority.Length != 0 => throw Invalid(text, $"{scheme}:// takes no host"),
            UnixScheme or TlsUnixScheme when socket is null => throw Invalid(text, $"{scheme}:// needs ?socket=PATH"),
            UnixScheme or TlsUnixScheme => new NbdUri(NbdEndpoint.Unix(socket), exportName, tls),
            _ => throw Invalid(text, $"unsupported scheme '{scheme}' (use nbd://, nbd+unix://, nbds:// or nbds+unix://)"),
        };
    }

    public override string ToString()
    {
        string path = Uri.EscapeDataString(ExportName).Replace("%3A", ":", StringComparison.Ordinal);
        if (Endpoint.UnixSocketPath is { } socket)
            return $"{(Tls ? TlsUnixScheme : UnixScheme)}:///{path}?{SocketParameter}={socket}";
        string host = Endpoint.Host!.Contains(':') ? $"[{Endpoint.Host}]" : Endpoint.Host!;
        string port = Endpoint.Port == NbdProtocol.DefaultPort ? "" : $":{Endpoint.Port}";
        return $"{(Tls ? TlsTcpScheme : TcpScheme)}://{host}{port}/{path}";
    }

    private static NbdEndpoint TcpEndpoint(string text, string authority)
    {
        if (authority.Length == 0)
            throw Invalid(text, "no host");
        int portStart = authority.StartsWith('[') ? authority.IndexOf("]:", StringComparison.Ordinal) + 1 : authority.LastIndexOf(':');
        bool hasPort = portStart > 0;
        string host = hasPort ? authority[..portStart] : authority;
        int port = NbdProtocol.DefaultPort;
        if (hasPort && !int.TryParse(authority.AsSpan(portStart + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port))
            throw Invalid(text, "bad port");
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']'))
                throw Invalid(text, "unterminated [IPv6] host");
            host = host[1..^1];
        }
        else if (host.Contains(':'))
            throw Invalid(text, "write IPv6 hosts in brackets");
        return NbdEndpoint.Tcp(host, port);
    }

    private static string? SocketPath(string text, string query)
    {
        string? socket = null;
        foreach (var parameter in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = parameter.IndexOf('=');
            string key = equals < 0 ? parameter : parameter[..equals];
            if (key != SocketParameter)
                throw Invalid(text, $"unsupported parameter '{key}'");
            socket = Uri.UnescapeDataString(equals < 0 ? "" : parameter[(equals + 1)..]);
        }
        return socket is "" ? throw Invalid(text, "empty socket path") : socket;
    }

    private static FormatException Invalid(string text, string reason) => new($"'{text}' is not an NBD URI: {reason}");
}
