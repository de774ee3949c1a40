using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Bmcast.Images.ObjectStore;

/// <summary>An object as listed: its key relative to the store's prefix, when it was last written and its size.</summary>
internal readonly record struct ListedObject(string Name, DateTime LastModified, long Size);

/// <summary>
/// The requests bmcast makes of a bucket, each one S3 call, with keys relative to the store's prefix. Configured as
/// Ceph RGW and other compatible stores need (path-style addressing, checksums only where a request requires them).
/// Failures become <see cref="ImageStoreException"/>s naming the object and the store's answer; a missing object is
/// null or false, not an error.
/// </summary>
internal sealed class S3Bucket : IDisposable
{
    private readonly AmazonS3Client _client;

    /// <param name="credentials">For tests; otherwise the SDK's default chain (environment, profile).</param>
    public S3Bucket(S3StoreLocation location, AWSCredentials? credentials = null)
    {
        Location = location;
        var config = new AmazonS3Config
        {
            ForcePathStyle = true,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (location.Endpoint is { } endpoint)
        {
            config.ServiceURL = endpoint;
            config.AuthenticationRegion = Environment.GetEnvironmentVariable("AWS_REGION") is { Length: > 0 } region ? region : "us-east-1";
        }
        _client = credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(credentials, config);
    }

    public S3StoreLocation Location { get; }

    public async Task EnsureBucketAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _client.PutBucketAsync(new PutBucketRequest { BucketName = Location.Bucket }, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("create bucket", "", e);
        }
    }

    /// <summary>The whole object, or null when there is none.</summary>
    public async Task<byte[]?> TryGetAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = Location.Bucket, Key = Location.Key(name) }, cancellationToken);
            using var copy = new MemoryStream(response.ContentLength > 0 ? (int)Math.Min(response.ContentLength, int.MaxValue) : 0);
            await response.ResponseStream.CopyToAsync(copy, cancellationToken);
            return copy.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("GET", name, e);
        }
    }

    /// <summary>
    /// One ranged GET filling <paramref name="destination"/> from <paramref name="offset"/>; returns the bytes the
    /// object had there (fewer when it ends first), or -1 when the object does not exist.
    /// </summary>
    public async Task<int> ReadRangeAsync(string name, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetObjectAsync(new GetObjectRequest
            {
                BucketName = Location.Bucket,
                Key = Location.Key(name),
                ByteRange = new ByteRange(offset, offset + destination.Length - 1),
            }, cancellationToken);
            int done = 0;
            for (int n; done < destination.Length && (n = await response.ResponseStream.ReadAsync(destination[done..], cancellationToken)) > 0;)
                done += n;
            return done;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return -1;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            return 0;
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("GET range", name, e);
        }
    }

    public async Task<bool> ExistsAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            await _client.GetObjectMetadataAsync(Location.Bucket, Location.Key(name), cancellationToken);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("HEAD", name, e);
        }
    }

    /// <summary>Write an object whole: S3 makes it visible only once complete, replacing any earlier one.</summary>
    public Task PutAsync(string name, byte[] content, CancellationToken cancellationToken) =>
        PutAsync(new PutObjectRequest { Key = Location.Key(name), InputStream = new MemoryStream(content, writable: false) }, name, cancellationToken);

    /// <summary>
    /// Write an object only if none has that name (a conditional PUT, <c>If-None-Match: *</c>): false when one has,
    /// or when another writer's conditional PUT of it is under way.
    /// </summary>
    public async Task<bool> TryPutNewAsync(string name, byte[] content, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest { Key = Location.Key(name), InputStream = new MemoryStream(content, writable: false), IfNoneMatch = "*" };
        try
        {
            await PutAsync(request, name, cancellationToken);
            return true;
        }
        catch (ImageStoreException e) when (e.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict })
        {
            return false;
        }
    }

    public Task PutFileAsync(string name, string path, CancellationToken cancellationToken) =>
        PutAsync(new PutObjectRequest { Key = Location.Key(name), FilePath = path }, name, cancellationToken);

    private async Task PutAsync(PutObjectRequest request, string name, CancellationToken cancellationToken)
    {
        request.BucketName = Location.Bucket;
        request.UseChunkEncoding = false; // S3 gateways other than AWS (Swift's s3api) refuse aws-chunked bodies
        try
        {
            await _client.PutObjectAsync(request, cancellationToken);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("PUT", name, e);
        }
    }

    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            await _client.DeleteObjectAsync(Location.Bucket, Location.Key(name), cancellationToken);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("DELETE", name, e);
        }
    }

    /// <summary>Every object whose name starts with <paramref name="prefix"/> (one LIST request per 1,000).</summary>
    public async Task<List<ListedObject>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var found = new List<ListedObject>();
        string keyPrefix = Location.Key(prefix);
        int strip = Location.Key("").Length;
        var request = new ListObjectsV2Request { BucketName = Location.Bucket, Prefix = keyPrefix };
        try
        {
            while (true)
            {
                var response = await _client.ListObjectsV2Async(request, cancellationToken);
                foreach (var entry in response.S3Objects ?? [])
                    found.Add(new ListedObject(entry.Key[strip..], entry.LastModified ?? DateTime.MinValue, entry.Size ?? 0));
                if (response.IsTruncated != true)
                    return found;
                request.ContinuationToken = response.NextContinuationToken;
            }
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            throw new ImageStoreException($"no image store at {Location} (the bucket does not exist: nothing has been imported there)", e);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw Failure("LIST", prefix, e);
        }
    }

    public void Dispose() => _client.Dispose();

    private static bool IsStoreFailure(Exception e) => e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException;

    private ImageStoreException Failure(string request, string name, Exception e) =>
        new($"object store {Location}: {request} {Location.Key(name)} failed: {(e is AmazonS3Exception s3 ? $"{(int)s3.StatusCode} {s3.ErrorCode}: " : "")}{e.Message}", e);
}
