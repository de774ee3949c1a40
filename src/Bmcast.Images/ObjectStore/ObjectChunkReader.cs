using System.Collections.Concurrent;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Images.Packs;
using Microsoft.Extensions.Logging;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// Reads chunks for serving: from the <see cref="ChunkCache"/>, else with one ranged GET of the chunk's bytes in its
/// pack object, checked against the manifest's hash before it is cached or served. A chunk that fails the check is
/// neither: the read fails with EIO and a log line naming the object (the next read fetches it again). Concurrent
/// reads of one chunk share one GET.
/// </summary>
internal sealed class ObjectChunkReader(S3Bucket bucket, ObjectPacks packs, ChunkCache cache, ILogger log)
{
    private readonly ConcurrentDictionary<ChunkKey, Lazy<Task<byte[]>>> _fetching = new();

    public ChunkCache Cache => cache;

    public async ValueTask ReadAsync(Manifest manifest, long chunk, int offsetInChunk, Memory<byte> destination)
    {
        var key = ChunkKey.From(manifest.ChunkHash(chunk));
        if (cache.TryCopy(key, offsetInChunk, destination.Span))
            return;
        var fetch = _fetching.GetOrAdd(key, k => new Lazy<Task<byte[]>>(() => FetchAsync(manifest, chunk, k)));
        byte[] data;
        try
        {
            data = await fetch.Value;
        }
        finally
        {
            _fetching.TryRemove(new KeyValuePair<ChunkKey, Lazy<Task<byte[]>>>(key, fetch));
        }
        data.AsSpan(offsetInChunk, destination.Length).CopyTo(destination.Span);
    }

    private async Task<byte[]> FetchAsync(Manifest manifest, long chunk, ChunkKey key)
    {
        if (!packs.Current.TryLocate(key, out var at) && !(await packs.RefreshAsync(CancellationToken.None)).TryLocate(key, out at))
            throw Fail(manifest, chunk, key, "is in no pack of the bucket");
        int length = manifest.ChunkLength(chunk);
        if (at.Length != length)
            throw Fail(manifest, chunk, key, $"is {at.Length} bytes in {at.PackObject}, the manifest says {length}");
        byte[] data = new byte[length];
        int read;
        try
        {
            read = await bucket.ReadRangeAsync(at.PackObject, at.Offset, data, CancellationToken.None);
        }
        catch (ImageStoreException e)
        {
            throw Fail(manifest, chunk, key, $"could not be fetched: {e.Message}");
        }
        if (read != length)
            throw Fail(manifest, chunk, key, read < 0 ? $"is missing: {at.PackObject} is gone" : $"is cut short in {at.PackObject} ({read} of {length} bytes)");
        if (!manifest.Matches(chunk, data))
            throw Fail(manifest, chunk, key, $"does not match its hash in {at.PackObject} at {at.Offset} (damaged object): not served, not cached");
        cache.Add(key, data);
        return data;
    }

    private BlockDeviceException Fail(Manifest manifest, long chunk, ChunkKey key, string problem)
    {
        string message = $"chunk {chunk} ({key}) {problem}";
        log.LogError("object store {Store}: {Problem}", bucket.Location, message);
        return new BlockDeviceException(BlockDeviceException.EIO, message);
    }
}
