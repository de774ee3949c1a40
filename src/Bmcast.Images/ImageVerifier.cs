using System.Buffers;
using System.Collections.Concurrent;
using Bmcast.Core.Manifests;

namespace Bmcast.Images;

/// <summary>
/// Audits a stored image end to end: the manifest's structure and root hash, its signature and
/// signer, and the SHA-256 of every stored chunk it references (re-read from its pack, on every core).
/// </summary>
public sealed class ImageVerifier(IImageStore store)
{
    private IStoredChunks Chunks => ((IStoreBackend)store).StoredChunks; // every store is one of this assembly's

    public async Task<VerifyReport> VerifyAsync(string name, Action<long>? chunksDone = null, CancellationToken cancellationToken = default)
    {
        byte[] encoded = store.ReadEncodedManifest(name);
        Manifest manifest;
        try
        {
            manifest = Manifest.Decode(encoded);
        }
        catch (ManifestFormatException e)
        {
            return new VerifyReport(name, e.Message, false, false, 0, []);
        }

        var bad = new ConcurrentBag<BadChunk>();
        long done = 0;
        var parallel = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount };
        await Parallel.ForAsync(0L, manifest.ChunkCount, parallel, (chunk, _) =>
        {
            if (!manifest.IsZeroChunk(chunk) && CheckChunk(manifest, chunk) is { } problem)
                bad.Add(problem);
            chunksDone?.Invoke(Interlocked.Increment(ref done));
            return ValueTask.CompletedTask;
        });

        return new VerifyReport(
            name,
            ManifestError: null,
            SignatureValid: manifest.HasValidSignature(),
            SignedByStoreKey: manifest.KeyFingerprint == store.KeyFingerprint,
            ChunksChecked: manifest.NonZeroChunkCount,
            BadChunks: bad.OrderBy(b => b.Chunk).ToList());
    }

    private BadChunk? CheckChunk(Manifest manifest, long chunk)
    {
        var hash = manifest.ChunkHash(chunk);
        var stored = Chunks.Locate(hash);
        BadChunk Bad(string problem) =>
            new(chunk, chunk * manifest.ChunkSize, Convert.ToHexStringLower(manifest.ChunkHash(chunk)), stored?.Path ?? "", problem)
            {
                FileOffset = stored?.Offset ?? 0,
            };

        if (stored is null)
            return Bad(Chunks.Damaged.Count == 0 ? "missing" : $"missing (damaged: {string.Join("; ", Chunks.Damaged)})");
        int expected = manifest.ChunkLength(chunk);
        if (stored.Length != expected)
            return Bad($"wrong size: {stored.Length} bytes, expected {expected}");
        byte[] buffer = ArrayPool<byte>.Shared.Rent(expected);
        try
        {
            var data = buffer.AsSpan(0, expected);
            return Chunks.TryRead(hash, 0, data) switch
            {
                ChunkRead.Missing => Bad("missing"),
                ChunkRead.Short => Bad("truncated while reading"),
                _ => manifest.Matches(chunk, data) ? null : Bad("hash mismatch"),
            };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
