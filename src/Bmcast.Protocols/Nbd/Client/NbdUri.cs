using System.Globalization;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// An export's address in libnbd's URI syntax: <c>nbd://HOST[:PORT]/NAME</c> (default port 10809) or
/// <c>nbd+unix:///NAME?socket=PATH</c>. The export name is the percent-decoded path without its leading slash.
/// TLS schemes (<c>nbds</c>) are not supported.
/// </summary>
public sealed record NbdUri
{
    private const string TcpScheme = "nbd";
    private const string UnixScheme = "nbd+unix";
    private const string SocketParameter = "socket";

    private NbdUri(NbdEndpoint endpoint, string exportName)
    {
        Endpoint = endpoint;
        ExportName = exportName;
    }

    public NbdEndpoint Endpoint { get; }

    public string ExportName { get; }

    public static NbdUri Create(NbdEndpoint endpoint, string exportName) => new(endpoint, exportName);

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

        return scheme switch
        {
            TcpScheme when socket is not null => throw Invalid(text, "socket= only goes with nbd+unix://"),
            TcpScheme => new NbdUri(TcpEndpoint(text, authority), exportName),
            UnixScheme when authority.Length != 0 => throw Invalid(text, "nbd+unix:// takes no host"),
            UnixScheme when socket is null => throw Invalid(text, "nbd+unix:// needs ?socket=PATH"),
            UnixScheme => new NbdUri(NbdEndpoint.Unix(socket), exportName),
            _ => throw Invalid(text, $"unsupported scheme '{scheme}' (use nbd:// or nbd+unix://)"),
        };
    }

    public override string ToString()
    {
        string path = Uri.EscapeDataString(ExportName).Replace("%3A", ":", StringComparison.Ordinal);
        if (Endpoint.UnixSocketPath is { } socket)
            return $"{UnixScheme}:///{path}?{SocketParameter}={socket}";
        string host = Endpoint.Host!.Contains(':') ? $"[{Endpoint.Host}]" : Endpoint.Host!;
        string port = Endpoint.Port == NbdProtocol.DefaultPort ? "" : $":{Endpoint.Port}";
        return $"{TcpScheme}://{host}{port}/{path}";
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
