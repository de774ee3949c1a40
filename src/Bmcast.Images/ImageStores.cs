using Bmcast.Images.ObjectStore;
using Microsoft.Extensions.Logging;

namespace Bmcast.Images;

/// <summary>
/// Opens the store an operator names (<c>--store</c>, else <c>$BMCAST_STORE</c>, else the default directory):
/// <c>s3://BUCKET[/PREFIX][?endpoint=URL]</c> is a bucket (<see cref="ObjectImageStore"/>), anything else a directory
/// (<see cref="ImageStore"/>).
/// </summary>
public static class ImageStores
{
    /// <summary>Open the store, creating a directory store if needed (a bucket is created by the first import).</summary>
    /// <param name="cacheBytes">The read cache of a bucket store (<c>bmcast serve --cache-size</c>).</param>
    public static IImageStore Open(string? location, Action<string>? notice = null, long cacheBytes = ChunkCache.DefaultCapacityBytes, ILogger? log = null) =>
        Resolve(location) is { } s3 ? OpenBucket(s3, cacheBytes, log) : ImageStore.Open(location, notice);

    /// <summary>Open the store only if it exists: commands that read must not create one.</summary>
    public static IImageStore OpenExisting(string? location, Action<string>? notice = null) =>
        Resolve(location) is { } s3 ? OpenBucket(s3, ChunkCache.DefaultCapacityBytes, null) : ImageStore.OpenExisting(location, notice);

    /// <summary>Whether <paramref name="location"/> (or, when none is given, <c>$BMCAST_STORE</c>) names a bucket.</summary>
    public static bool IsBucket(string? location) => Resolve(location) is not null;

    private static ObjectImageStore OpenBucket(string location, long cacheBytes, ILogger? log)
    {
        var parsed = S3StoreLocation.Parse(location);
        return new ObjectImageStore(parsed, cacheBytes, ObjectImageStore.DefaultKeyPath(parsed), log);
    }

    private static string? Resolve(string? location)
    {
        string? named = string.IsNullOrEmpty(location) ? Environment.GetEnvironmentVariable(ImageStore.StoreEnvironmentVariable) : location;
        return S3StoreLocation.IsS3(named) ? named : null;
    }
}
