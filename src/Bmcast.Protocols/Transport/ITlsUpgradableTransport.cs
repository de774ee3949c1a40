using System.IO.Pipelines;
using System.Net.Security;

namespace Bmcast.Protocols.Transport;

/// <summary>A transport whose connection can go on under TLS (an in-session upgrade such as NBD_OPT_STARTTLS).</summary>
internal interface ITlsUpgradableTransport : IDuplexPipe
{
    /// <summary>
    /// Run <paramref name="authenticate"/> (the TLS handshake) over the connection, then carry <see cref="IDuplexPipe.Input"/>
    /// and <see cref="IDuplexPipe.Output"/> over TLS. Call it only when the peer sends nothing before its handshake:
    /// plaintext bytes still buffered would be lost, so they are an error.
    /// </summary>
    Task<SslStream> StartTlsAsync(Func<SslStream, CancellationToken, Task> authenticate, CancellationToken cancellationToken);
}
