using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// TLS for the NBD server, always forced (the spec's FORCEDTLS mode): until NBD_OPT_STARTTLS has succeeded every
/// other option is refused with NBD_REP_ERR_TLS_REQD. With <see cref="ClientAuthorities"/>, clients must present a
/// certificate issued by one of them, and <see cref="AllowedClients"/> restricts images to named clients.
/// </summary>
public sealed class NbdServerTls
{
    private static readonly IReadOnlyDictionary<string, IReadOnlySet<string>> Unrestricted = new Dictionary<string, IReadOnlySet<string>>();

    /// <param name="certificate">The server's certificate with its private key (and any intermediates).</param>
    /// <param name="clientAuthorities">Trust anchors for client certificates; null: clients are not asked for one.</param>
    /// <param name="allowedClients">
    /// Image name to the subject common names (CN) of the client certificates that may open it, its manifest and its
    /// boot profile; images not named here are open to every client that completed the TLS handshake.
    /// </param>
    public NbdServerTls(SslStreamCertificateContext certificate, X509Certificate2Collection? clientAuthorities = null,
        IReadOnlyDictionary<string, IReadOnlySet<string>>? allowedClients = null)
    {
        if (allowedClients is { Count: > 0 } && clientAuthorities is null)
            throw new ArgumentException("per-image allow lists (--tls-allow) need a client CA (--tls-client-ca): without client certificates there is no name to check");
        Certificate = certificate;
        ClientAuthorities = clientAuthorities;
        AllowedClients = allowedClients ?? Unrestricted;
    }

    public SslStreamCertificateContext Certificate { get; }

    public X509Certificate2Collection? ClientAuthorities { get; }

    public IReadOnlyDictionary<string, IReadOnlySet<string>> AllowedClients { get; }

    /// <summary>Load PEM files: the certificate (followed by any intermediates), its key, and optionally the client CA(s).</summary>
    public static NbdServerTls FromPemFiles(string certificateFile, string keyFile, string? clientCaFile = null,
        IReadOnlyDictionary<string, IReadOnlySet<string>>? allowedClients = null)
    {
        var certificate = PemCertificates.LoadWithKey(certificateFile, keyFile);
        var intermediates = new X509Certificate2Collection(
            PemCertificates.Load(certificateFile).Where(c => c.Thumbprint != certificate.Thumbprint).ToArray());
        var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        return new NbdServerTls(context, clientCaFile is null ? null : PemCertificates.Load(clientCaFile), allowedClients);
    }

    /// <summary>Whether the client named <paramref name="clientName"/> (its certificate's CN, null without one) may open the export.</summary>
    public bool Permits(string exportName, string? clientName) =>
        !AllowedClients.TryGetValue(ExportNames.ImageOf(exportName), out var names) || (clientName is not null && names.Contains(clientName));

    /// <summary>Options for one connection, and the check that explains a refused client certificate (null: none is asked for).</summary>
    internal (SslServerAuthenticationOptions Options, PeerCertificateCheck? Check) AuthenticationOptions()
    {
        var check = ClientAuthorities is null ? null : new PeerCertificateCheck("client", name: null);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = Certificate,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13, // The spec's floor is TLS 1.2.
            ClientCertificateRequired = check is not null,
            CertificateChainPolicy = ClientAuthorities is null ? null : PemCertificates.TrustOnly(ClientAuthorities),
            // Without a client CA a client's certificate (libnbd sends one when it has it) is ignored, not judged.
            RemoteCertificateValidationCallback = check is null ? (_, _, _, _) => true : check.Validate,
        };
        return (options, check);
    }
}
