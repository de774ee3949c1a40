using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Bmcast.Protocols.Nbd;

/// <summary>Trust anchors from PEM files, for the server's client CA and the client's <c>--tls-ca</c>.</summary>
internal static class PemCertificates
{
    public static X509Certificate2Collection Load(string path)
    {
        var certificates = new X509Certificate2Collection();
        Parse(path, () => certificates.ImportFromPemFile(path));
        return certificates.Count > 0 ? certificates : throw new InvalidDataException($"{path} holds no PEM certificate");
    }

    /// <summary>A certificate (the first in <paramref name="certificateFile"/>) with its private key.</summary>
    public static X509Certificate2 LoadWithKey(string certificateFile, string keyFile)
    {
        X509Certificate2? certificate = null;
        Parse($"{certificateFile} with key {keyFile}", () => certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile));
        return certificate!;
    }

    /// <summary>Malformed PEM is the operator's to fix: say which file, in one line.</summary>
    private static void Parse(string what, Action parse)
    {
        try
        {
            parse();
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{what}: not a usable PEM certificate/key: {e.Message}", e);
        }
    }

    /// <summary>A chain policy that trusts exactly <paramref name="anchors"/> (not the system store); no revocation lookups.</summary>
    public static X509ChainPolicy TrustOnly(X509Certificate2Collection anchors)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(anchors);
        return policy;
    }
}
