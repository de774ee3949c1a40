using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// Judges the server's certificate for one connection and remembers why it refused it: SslStream itself only says
/// that the callback said no.
/// </summary>
internal sealed class ServerCertificateCheck(NbdEndpoint endpoint)
{
    public string? Failure { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (endpoint.IsUnix)
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch; // No host name to check (see NbdClientTls).
        string subject = certificate?.Subject ?? "";
        Failure = errors switch
        {
            SslPolicyErrors.None => null,
            _ when errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable) => "the server sent no certificate",
            _ when errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) =>
                $"the server's certificate ({subject}) is not trusted: {ChainProblems(chain)} (give the CA that issued it with --tls-ca)",
            _ => $"the server's certificate ({subject}) is not valid for '{endpoint.Host}'",
        };
        return Failure is null;
    }

    private static string ChainProblems(X509Chain? chain) => chain is null || chain.ChainStatus.Length == 0
        ? "chain errors"
        : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
}
