using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// What an <c>nbds://</c> connection trusts and presents: the authorities the server's certificate must chain to (null:
/// the system store) and an optional client certificate. The server's name is checked as usual for a host name and
/// against the certificate's IP subjectAltName for an address; over a unix socket, whose file permissions already say
/// who listens, only the chain is checked.
/// </summary>
public sealed class NbdClientTls(X509Certificate2Collection? trustedAuthorities = null, X509Certificate2? clientCertificate = null)
{
    /// <summary>The system's trust store, no client certificate.</summary>
    public static NbdClientTls SystemTrust { get; } = new();

    public X509Certificate2Collection? TrustedAuthorities { get; } = trustedAuthorities;

    public X509Certificate2? ClientCertificate { get; } = clientCertificate;

    /// <summary>Load PEM files; each may be null (the certificate and its key go together).</summary>
    public static NbdClientTls FromPemFiles(string? caFile, string? certificateFile, string? keyFile)
    {
        if ((certificateFile is null) != (keyFile is null))
            throw new ArgumentException("a client certificate needs both --tls-cert and --tls-key");
        return new NbdClientTls(caFile is null ? null : PemCertificates.Load(caFile),
            certificateFile is null ? null : PemCertificates.LoadWithKey(certificateFile, keyFile!));
    }

    /// <summary>Options for one connection, and the check that explains a refused server certificate.</summary>
    internal (SslClientAuthenticationOptions Options, PeerCertificateCheck Check) AuthenticationOptions(NbdEndpoint endpoint)
    {
        // Over a unix socket there is no host name to check (see above).
        var check = new PeerCertificateCheck("server", endpoint.Host, " (give the CA that issued it with --tls-ca)");
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = endpoint.Host ?? "",
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13, // The spec's floor is TLS 1.2.
            CertificateChainPolicy = TrustedAuthorities is null ? null : PemCertificates.TrustOnly(TrustedAuthorities),
            ClientCertificateContext = ClientCertificate is null ? null : SslStreamCertificateContext.Create(ClientCertificate, null, offline: true),
            RemoteCertificateValidationCallback = check.Validate,
        };
        return (options, check);
    }
}
