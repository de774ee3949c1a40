using Amazon.Runtime;
using Amazon.S3.Model;
using Bmcast.Images;
using Bmcast.Images.ObjectStore;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.ObjectStore;

/// <summary>
/// One real Ceph RGW for a test class (starting one takes ~25 s), started by the first test that asks for it (so a
/// missing Ceph skips that test with its reason, and the others with the same) and stopped with the class. Each test
/// uses buckets of its own.
/// </summary>
public sealed class SharedCephRgw : IAsyncDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly Lazy<Task<CephRgw>> _rgw;

    public SharedCephRgw() => _rgw = new(() => CephRgw.StartAsync(_directory.File("ceph")));

    internal Task<CephRgw> StartAsync() => _rgw.Value;

    /// <summary>The prefix of the stores the tests open in their buckets (<c>s3://BUCKET/PREFIX</c>).</summary>
    public const string Prefix = "images-test";

    /// <summary>A bucket name no other test uses.</summary>
    public static string NewBucket() => "bmcast-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>A store on <paramref name="bucket"/>, as a server or the CLI opens one, with the gateway's keys.</summary>
    internal static ObjectImageStore Open(CephRgw rgw, string bucket, string keyPath, long cacheBytes = 64L << 20) =>
        new(new S3StoreLocation(bucket, Prefix, rgw.Endpoint), cacheBytes, keyPath, credentials: new BasicAWSCredentials(rgw.AccessKey, rgw.SecretKey));

    /// <summary>Flip one byte of a stored chunk of <paramref name="image"/> in its pack object, by hand, as bit rot or a bad disk would.</summary>
    internal static async Task CorruptChunkAsync(CephRgw rgw, string bucket, ObjectImageStore store, string image, long chunk, CancellationToken ct)
    {
        var manifest = ((IImageStore)store).ReadManifest(image);
        var stored = ((IStoreBackend)store).StoredChunks.Locate(manifest.ChunkHash(chunk))!;
        using var s3 = rgw.Client();
        byte[] pack;
        using (var response = await s3.GetObjectAsync(bucket, stored.Path, ct))
        using (var copy = new MemoryStream())
        {
            await response.ResponseStream.CopyToAsync(copy, ct);
            pack = copy.ToArray();
        }
        pack[stored.Offset + 100] ^= 0x40;
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = stored.Path, InputStream = new MemoryStream(pack), UseChunkEncoding = false }, ct);
    }

    /// <summary>The environment a <c>bmcast</c> child needs to reach the gateway: the standard AWS variables, and where to keep its key.</summary>
    internal static string[] Environment(CephRgw rgw, string dataHome) =>
        [$"AWS_ENDPOINT_URL={rgw.Endpoint}", $"AWS_ACCESS_KEY_ID={rgw.AccessKey}", $"AWS_SECRET_ACCESS_KEY={rgw.SecretKey}", $"XDG_DATA_HOME={dataHome}"];

    public async ValueTask DisposeAsync()
    {
        if (_rgw.IsValueCreated && _rgw.Value.IsCompletedSuccessfully)
            await (await _rgw.Value).DisposeAsync();
        _directory.Dispose();
    }
}
