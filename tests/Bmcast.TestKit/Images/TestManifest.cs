using System.Security.Cryptography;
using Bmcast.Core.Manifests;

namespace Bmcast.TestKit.Images;

/// <summary>A manifest of an in-memory image, signed by a throwaway key, no chunk marked zero.</summary>
public static class TestManifest
{
    public static Manifest Of(byte[] image, int chunkSize)
    {
        int chunks = (int)((image.LongLength + chunkSize - 1) / chunkSize);
        var hashes = new byte[chunks * Manifest.HashSize];
        for (int chunk = 0; chunk < chunks; chunk++)
        {
            int start = chunk * chunkSize;
            SHA256.HashData(image.AsSpan(start, Math.Min(chunkSize, image.Length - start)), hashes.AsSpan(chunk * Manifest.HashSize));
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Manifest.Create(image.Length, chunkSize, new bool[chunks], hashes, key);
    }
}
