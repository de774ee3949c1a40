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

    /// <summary>
    /// Concurrent TCP connections from one address; further ones are closed at once. Unix socket clients are local
    /// and count only against <see cref="MaxConnections"/>. With the byte limits below, one address can hold at most
    /// 16 x 64 MiB = 1 GiB, half the server's total, so one client cannot lock the others out.
    /// </summary>
    public int MaxConnectionsPerPeer { get; init; } = 16;

    /// <summary>
    /// Request data (read replies not yet sent, write payloads not yet written) one connection may hold; beyond it the
    /// server stops reading that connection's requests. At least one maximal request (32 MiB) always goes through.
    /// </summary>
    public long MaxBytesInFlightPerConnection { get; init; } = 64L << 20;

    /// <summary>Request data all connections together may hold; shared first come, first served.</summary>
    public long MaxBytesInFlight { get; init; } = 2L << 30;

    /// <summary>A client that has not entered transmission by then is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>When set, TLS is required (and client certificates, when it names a client CA); null: plaintext only.</summary>
    public NbdServerTls? Tls { get; init; }
}
