using System.Security.Cryptography;
using Bmcast.Core.Manifests;

namespace Bmcast.TestKit.Images;

/// <summary>A manifest of an in-memory image, signed by a throwaway key.</summary>
public static class TestManifest
{
    /// <summary>No chunk marked zero: every chunk is fetched.</summary>
    public static Manifest Of(byte[] image, int chunkSize) => Create(image, chunkSize, markZeroChunks: false);

    /// <summary>Chunks of zeroes marked zero, as the image store marks them: they are never fetched.</summary>
    public static Manifest WithZeroChunks(byte[] image, int chunkSize) => Create(image, chunkSize, markZeroChunks: true);

    private static Manifest Create(byte[] image, int chunkSize, bool markZeroChunks)
    {
        int chunks = (int)((image.LongLength + chunkSize - 1) / chunkSize);
        var hashes = new byte[chunks * Manifest.HashSize];
        var zero = new bool[chunks];
        for (int chunk = 0; chunk < chunks; chunk++)
        {
            var bytes = image.AsSpan(chunk * chunkSize, Math.Min(chunkSize, image.Length - chunk * chunkSize));
            SHA256.HashData(bytes, hashes.AsSpan(chunk * Manifest.HashSize));
            zero[chunk] = markZeroChunks && !bytes.ContainsAnyExcept((byte)0);
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Manifest.Create(image.Length, chunkSize, zero, hashes, key);
    }
}
