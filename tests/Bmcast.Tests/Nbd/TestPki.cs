using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Tests.Nbd;

/// <summary>
/// A throwaway certificate authority with a server certificate (localhost, 127.0.0.1) and client certificates, plus
/// a second, untrusted authority with a client of its own. Made once per test run (RSA key generation is not free) and
/// written as PEM in the file layout GnuTLS peers expect (libnbd's and nbdkit's <c>--tls-certificates</c> directory,
/// QEMU's <c>tls-creds-x509</c> dir).
/// </summary>
internal sealed class TestPki
{
    public const string ServerName = "localhost";
    public const string AliceName = "alice";
    public const string BobName = "bob";

    private static readonly Lazy<TestPki> Shared = new(() => new TestPki());

    private readonly Authority _ca = new("bmcast test CA");
    private readonly Authority _rogueCa = new("some other CA");
    private readonly (X509Certificate2 Certificate, RSA Key) _server;
    private readonly (X509Certificate2 Certificate, RSA Key) _elsewhere;
    private readonly Dictionary<string, (X509Certificate2, RSA)> _clients = [];
    private readonly (X509Certificate2, RSA) _rogueClient;

    private TestPki()
    {
        _server = _ca.Issue(ServerName, serverAuth: true);
        _elsewhere = _ca.Issue("elsewhere", serverAuth: true, ipAddress: false);
        foreach (string name in new[] { AliceName, BobName })
            _clients[name] = _ca.Issue(name, serverAuth: false);
        _rogueClient = _rogueCa.Issue(AliceName, serverAuth: false);
    }

    public static TestPki Instance => Shared.Value;

    /// <summary>
    /// Our server's TLS, straight from memory; with <paramref name="clientCertificates"/> it requires this CA's clients.
    /// <paramref name="wrongName"/>: the certificate names only the host "elsewhere" (no IP address).
    /// </summary>
    public NbdServerTls ServerTls(bool clientCertificates, IReadOnlyDictionary<string, IReadOnlySet<string>>? allowedClients = null, bool wrongName = false)
    {
        var (certificate, key) = wrongName ? _elsewhere : _server;
        return new NbdServerTls(SslStreamCertificateContext.Create(certificate.CopyWithPrivateKey(key), null, offline: true),
            clientCertificates ? [_ca.Certificate] : null, allowedClients);
    }

    /// <summary>Our client's TLS: trusting this CA (or the rogue one), presenting <paramref name="client"/>'s certificate if named.</summary>
    public NbdClientTls ClientTls(string? client, bool rogueClient = false, bool trustRogueCa = false)
    {
        var pair = client is null ? default : rogueClient ? _rogueClient : _clients[client];
        return new NbdClientTls([trustRogueCa ? _rogueCa.Certificate : _ca.Certificate],
            client is null ? null : pair.Item1.CopyWithPrivateKey(pair.Item2));
    }

    /// <summary>ca-cert.pem, server-cert.pem, server-key.pem: what a server needs (ours, nbdkit, qemu-nbd).</summary>
    public void WriteServerFiles(string directory)
    {
        Directory.CreateDirectory(directory);
        _ca.WriteCertificate(Path.Combine(directory, "ca-cert.pem"));
        Write(directory, "server", _server);
    }

    /// <summary>
    /// ca-cert.pem and, with <paramref name="client"/>, client-cert.pem and client-key.pem: what a client needs.
    /// <paramref name="rogue"/>: the client certificate comes from the untrusted authority.
    /// </summary>
    public void WriteClientFiles(string directory, string? client, bool rogue = false)
    {
        Directory.CreateDirectory(directory);
        _ca.WriteCertificate(Path.Combine(directory, "ca-cert.pem"));
        if (client is not null)
            Write(directory, "client", rogue ? _rogueClient : _clients[client]);
    }

    /// <summary>The untrusted authority's certificate, for a client that trusts the wrong CA.</summary>
    public void WriteRogueCa(string path) => _rogueCa.WriteCertificate(path);

    private static void Write(string directory, string role, (X509Certificate2 Certificate, RSA Key) pair)
    {
        File.WriteAllText(Path.Combine(directory, $"{role}-cert.pem"), pair.Certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(directory, $"{role}-key.pem"), pair.Key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    private sealed class Authority
    {
        private readonly X509Certificate2 _certificate;

        public X509Certificate2 Certificate => X509CertificateLoader.LoadCertificate(_certificate.RawData); // Without its key.

        public Authority(string name)
        {
            var key = RSA.Create(2048); // Kept: it signs the certificates issued later.
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
            _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(2));
        }

        public void WriteCertificate(string path) => File.WriteAllText(path, _certificate.ExportCertificatePem() + "\n");

        /// <summary>A leaf certificate; a server's names its CN as DNS name and, unless told not to, 127.0.0.1.</summary>
        public (X509Certificate2, RSA) Issue(string commonName, bool serverAuth, bool ipAddress = true)
        {
            var key = RSA.Create(2048);
            var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(
                X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_certificate, true, false));
            if (serverAuth)
            {
                var names = new SubjectAlternativeNameBuilder();
                names.AddDnsName(commonName);
                if (ipAddress)
                    names.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(names.Build());
            }
            var serial = RandomNumberGenerator.GetBytes(16);
            serial[0] &= 0x7f;
            var certificate = request.Create(_certificate, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), serial);
            return (certificate, key);
        }
    }
}
