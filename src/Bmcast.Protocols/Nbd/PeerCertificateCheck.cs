using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Bmcast.Protocols.Nbd;

/// <summary>
/// Judges the peer's certificate in one TLS handshake and remembers why it refused it: SslStream itself only says that
/// the callback said no.
/// </summary>
/// <param name="role">"server" or "client", for the message.</param>
/// <param name="name">The name the certificate must carry; null: none is checked (a unix socket, a client).</param>
/// <param name="trustHint">What the operator can do about an untrusted certificate, appended to that message.</param>
internal sealed class PeerCertificateCheck(string role, string? name, string trustHint = "")
{
    public string? Failure { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (name is null)
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        string subject = certificate?.Subject ?? "";
        Failure = errors switch
        {
            SslPolicyErrors.None => null,
            _ when errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable) => $"the {role} sent no certificate",
            _ when errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) =>
                $"the {role}'s certificate ({subject}) is not trusted: {ChainProblems(chain)}{trustHint}",
            _ => $"the {role}'s certificate ({subject}) is not valid for '{name}'",
        };
        return Failure is null;
    }

    private static string ChainProblems(X509Chain? chain) => chain is null || chain.ChainStatus.Length == 0
        ? "chain errors"
        : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
}
