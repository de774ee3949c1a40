namespace Bmcast.Protocols.Nbd.Server;

/// <summary>Bounds on what clients may make the server hold.</summary>
public sealed record NbdServerOptions
{
    /// <summary>Options one client may send before it must pick an export (like nbdkit's MAX_NR_OPTIONS).</summary>
    public int MaxOptions { get; init; } = 32;

    /// <summary>Requests one connection may have in flight; beyond this the server stops reading from it.</summary>
    public int MaxInflightRequests { get; init; } = 64;

    /// <summary>Concurrent connections; further ones are closed at once.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>A client that has not entered transmission by then is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>When set, TLS is required (and client certificates, when it names a client CA); null: plaintext only.</summary>
    public NbdServerTls? Tls { get; init; }
}
