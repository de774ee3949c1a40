using System.Security.Cryptography;
using Bmcast.Core.Manifests;

namespace Bmcast.Chaos.Fuzz;

/// <summary>
/// <see cref="Manifest.Decode"/> and the signature check on damaged manifests. A third of the inputs are
/// resealed (root hash recomputed over the damaged body) so they get past the hash to the later checks;
/// none of them may then carry a valid signature.
/// </summary>
public sealed class ManifestFuzzTarget : IFuzzTarget
{
    private const int ChunkSize = Manifest.MinChunkSize;
    private readonly List<(byte[] Encoded, int BodyLength)> _seeds;

    public ManifestFuzzTarget(Random random) => _seeds = CreateSeeds(random);

    /// <summary>
    /// Signed manifests, encoded, with the length of the body their root hash covers: one chunk, a partly zero
    /// image within one bitmap word, and one spanning three words.
    /// </summary>
    public static List<(byte[] Encoded, int BodyLength)> CreateSeeds(Random random)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var seeds = new List<(byte[] Encoded, int BodyLength)>();
        foreach (long chunks in new[] { 1L, 37, 130 })
        {
            var zero = new bool[chunks];
            for (int i = 0; i < chunks; i++)
                zero[i] = random.Next(3) == 0;
            var hashes = new byte[chunks * Manifest.HashSize];
            random.NextBytes(hashes);
            long imageSize = chunks * ChunkSize - random.Next(ChunkSize);
            var manifest = Manifest.Create(imageSize, ChunkSize, zero, hashes, key);
            int bodyLength = 32 + (int)((chunks + 7) / 8) + (int)manifest.NonZeroChunkCount * Manifest.HashSize;
            seeds.Add((manifest.Encode(), bodyLength));
        }
        return seeds;
    }

    public string Name => "manifest";

    public byte[] Generate(Random random)
    {
        var (seed, bodyLength) = _seeds[random.Next(_seeds.Count)];
        byte[] input = Mutations.Mutate(seed, random, seed.Length + 256, random.Next(2) == 0 ? ..32 : null);
        if (random.Next(3) == 0 && input.Length >= bodyLength + Manifest.HashSize)
            SHA256.HashData(input.AsSpan(0, bodyLength), input.AsSpan(bodyLength, Manifest.HashSize));
        return input;
    }

    public Task FeedAsync(byte[] input, CancellationToken ct)
    {
        var manifest = Manifest.Decode(input);
        for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
            if (!manifest.IsZeroChunk(chunk) && manifest.ChunkHash(chunk).Length != Manifest.HashSize)
                throw new FuzzViolationException($"chunk {chunk} of a decoded manifest has no full hash");
        if (manifest.HasValidSignature() && !_seeds.Any(s => s.Encoded.AsSpan().SequenceEqual(input)))
            throw new FuzzViolationException("a damaged manifest carries a valid signature");
        return Task.CompletedTask;
    }

    public bool IsDocumented(Exception error) => error is ManifestFormatException;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
