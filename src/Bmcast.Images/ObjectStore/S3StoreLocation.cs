using System.Text.RegularExpressions;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// A store in an S3-compatible bucket, as an operator names it: <c>s3://BUCKET[/PREFIX][?endpoint=URL]</c>. The
/// endpoint defaults to <c>$AWS_ENDPOINT_URL</c> (then to AWS itself); credentials never appear here: the AWS SDK takes
/// them from the environment (<c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>) or a profile.
/// </summary>
public sealed partial record S3StoreLocation(string Bucket, string Prefix, string? Endpoint)
{
    public const string Scheme = "s3://";

    public static bool IsS3(string? location) => location is not null && location.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    public static S3StoreLocation Parse(string location)
    {
        if (!IsS3(location))
            throw new ImageStoreException($"'{location}' is not an s3:// store location");
        string rest = location[Scheme.Length..];
        string? endpoint = null;
        int query = rest.IndexOf('?');
        if (query >= 0)
        {
            foreach (string pair in rest[(query + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] parts = pair.Split('=', 2);
                if (parts.Length != 2 || parts[0] != "endpoint" || !Uri.TryCreate(Uri.UnescapeDataString(parts[1]), UriKind.Absolute, out var uri)
                    || uri.Scheme is not ("http" or "https"))
                    throw new ImageStoreException($"store location {location}: the only setting is endpoint=http(s)://HOST:PORT, not '{pair}' (credentials come from the AWS environment or profile)");
                endpoint = uri.ToString().TrimEnd('/');
            }
            rest = rest[..query];
        }
        int slash = rest.IndexOf('/');
        string bucket = slash < 0 ? rest : rest[..slash];
        string prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
        if (!BucketName().IsMatch(bucket))
            throw new ImageStoreException($"store location {location}: '{bucket}' is not a bucket name (3-63 lowercase letters, digits, '.' and '-')");
        if (prefix.Contains("//") || prefix.Split('/').Any(part => part is "." or ".."))
            throw new ImageStoreException($"store location {location}: prefix '{prefix}' has an empty, '.' or '..' part");
        return new S3StoreLocation(bucket, prefix, endpoint ?? NonEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL")));
    }

    /// <summary>The object key of <paramref name="relative"/> under the prefix.</summary>
    public string Key(string relative) => Prefix.Length == 0 ? relative : Prefix + "/" + relative;

    public override string ToString() => Scheme + Bucket + (Prefix.Length == 0 ? "" : "/" + Prefix);

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();
}
