using Bmcast.Core.Storage;
using System.Security.Cryptography;

namespace Bmcast.Images;

/// <summary>
/// The store's ECDSA P-256 signing key, <c>keys/store.key</c> (PKCS#8 PEM, mode 0600), created the
/// first time something is signed. Machines pin its fingerprint to trust this store's manifests.
/// </summary>
internal sealed class StoreKey(string path, string temporaryDirectory)
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public bool Exists => File.Exists(path);

    /// <summary>The public key (SubjectPublicKeyInfo DER), or null before the first import.</summary>
    public byte[]? PublicKey()
    {
        if (!Exists)
            return null;
        using var key = Load();
        return key.ExportSubjectPublicKeyInfo();
    }

    public ECDsa LoadOrCreate()
    {
        if (!Exists)
            Create();
        return Load();
    }

    private ECDsa Load()
    {
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(path));
        return key;
    }

    private void Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string temporary = Path.Combine(temporaryDirectory, "key-" + Guid.NewGuid().ToString("N"));
        DurableFile.WriteNew(temporary, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()), OwnerOnly);
        // No overwrite: when two imports race to create the key, the first one's key wins.
        if (DurableFile.RenameNoReplace(temporary, path))
            DirectorySync.Sync(Path.GetDirectoryName(path)!);
        else
            File.Delete(temporary);
    }
}
