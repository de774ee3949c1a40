using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.ObjectStore;

/// <summary>
/// <c>tools/ceph-rgw.sh</c>, the real Ceph the object-store work is tested against: it starts a single-node cluster
/// whose gateway speaks S3 to the AWS SDK (bucket, object, ranged read, a wrong key refused), stops every daemon it
/// started, and starts again on the same directory with the same endpoint, keys and objects.
/// </summary>
public sealed class CephRgwScriptTests
{
    [Fact]
    public async Task Ceph_rgw_serves_s3_to_the_aws_sdk_stops_all_its_daemons_and_restarts_with_its_data()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory();
        await using var rgw = await CephRgw.StartAsync(dir.File("ceph"));
        byte[] data = new byte[1 << 20];
        Random.Shared.NextBytes(data);

        using (var s3 = rgw.Client())
        {
            await s3.PutBucketAsync("bmcast-test", ct);
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = "bmcast-test", Key = "chunk", InputStream = new MemoryStream(data) }, ct);
            Assert.Equal(data.AsSpan(1000, 4096).ToArray(), await ReadAsync(s3, new ByteRange(1000, 1000 + 4096 - 1), ct));
        }
        using (var wrongKey = rgw.Client(secretKey: new string('0', 40)))
        {
            var refused = await Assert.ThrowsAsync<AmazonS3Exception>(() => wrongKey.GetObjectAsync("bmcast-test", "chunk", ct));
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        Assert.NotEmpty(rgw.Daemons());
        string endpoint = rgw.Endpoint;
        await rgw.StopAsync();
        Assert.Empty(rgw.Daemons());

        await rgw.StartAgainAsync();
        Assert.Equal(endpoint, rgw.Endpoint);
        using (var s3 = rgw.Client())
            Assert.Equal(data, await ReadAsync(s3, null, ct));
    }

    private static async Task<byte[]> ReadAsync(AmazonS3Client s3, ByteRange? range, CancellationToken ct)
    {
        using var response = await s3.GetObjectAsync(new GetObjectRequest { BucketName = "bmcast-test", Key = "chunk", ByteRange = range }, ct);
        using var copy = new MemoryStream();
        await response.ResponseStream.CopyToAsync(copy, ct);
        return copy.ToArray();
    }
}
