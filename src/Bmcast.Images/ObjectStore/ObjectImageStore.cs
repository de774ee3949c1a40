using System.Security.Cryptography;
using System.Text.Json;
using Amazon.Runtime;
using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Images.ObjectStore;

/// <summary>
/// Images in a bucket of an S3-compatible object store (Ceph RGW, AWS S3, ...), for any number of stateless servers.
/// Object names under the location's prefix (see docs/object-store.md):
/// <code>
///   packs/pack-ID.pack          chunks, as in the directory store (PackFormat); written once
///   packs/pack-ID.idx           its index (PackIndex); the pack is part of the store once this exists
///   images/NAME/image.json      ImageInfo
///   images/NAME/manifest        the signed manifest; the image exists exactly when this does (written last)
///   images/NAME/boot-profile    the boot profile, if any
///   keys/store.pub              the public key of the store's signing key (the private key stays local)
///   gc/pack-ID                  a pack garbage collection found unreferenced, since the object's time
/// </code>
/// Nothing is cached between calls but immutable pack indexes: an image published by another process is seen by the
/// next call (a listing, an open). S3 has no locks: racing imports of one name both succeed, the later manifest wins.
/// </summary>
public sealed class ObjectImageStore : IStoreBackend, IDisposable
{
    internal const string ImagesDirectory = "images/";
    private const string ManifestObject = "manifest";
    private const string InfoObject = "image.json";
    private const string BootProfileObject = "boot-profile";
    private const string PublicKeyObject = "keys/store.pub";

    private readonly S3Bucket _bucket;
    private readonly ObjectPacks _packs;
    private readonly ObjectChunkReader _reader;
    private readonly StoreKey _key;
    private readonly string _stagingRoot;

    internal ObjectImageStore(S3StoreLocation location, long cacheBytes, string keyPath, ILogger? log = null, AWSCredentials? credentials = null)
    {
        _bucket = new S3Bucket(location, credentials);
        _packs = new ObjectPacks(_bucket);
        _reader = new ObjectChunkReader(_bucket, _packs, new ChunkCache(cacheBytes), log ?? NullLogger.Instance);
        _stagingRoot = Path.Combine(Path.GetTempPath(), "bmcast-s3-" + Environment.ProcessId);
        _key = new StoreKey(keyPath, Path.GetDirectoryName(keyPath)!);
        KeyPath = keyPath;
    }

    public string Location => _bucket.Location.ToString();

    /// <summary>Where this machine keeps the private key that signs the bucket's manifests.</summary>
    public string KeyPath { get; }

    internal ChunkCache Cache => _reader.Cache;

    /// <summary>
    /// The default signing key for <paramref name="location"/>: <c>$XDG_DATA_HOME/bmcast/keys/s3/BUCKET[/PREFIX]/store.key</c>
    /// (else under <c>~/.local/share</c>): with the operator, never in the bucket.
    /// </summary>
    public static string DefaultKeyPath(S3StoreLocation location)
    {
        string? dataHome = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(dataHome))
            dataHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        string bucketPath = location.Prefix.Length == 0 ? location.Bucket : Path.Combine(location.Bucket, location.Prefix);
        return Path.Combine(dataHome, "bmcast", "keys", "s3", bucketPath, "store.key");
    }

    public bool Exists(string name) => ImageName.IsValid(name) && Run(ct => _bucket.ExistsAsync(ImageObject(name, ManifestObject), ct));

    public IReadOnlyList<ImageInfo> List() =>
        Run(ct => _bucket.ListAsync(ImagesDirectory, ct))
            .Select(o => o.Name[ImagesDirectory.Length..].Split('/'))
            .Where(parts => parts is [var name, ManifestObject] && ImageName.IsValid(name))
            .Select(parts => parts[0])
            .Order(StringComparer.Ordinal)
            .Select(TryGetInfo).OfType<ImageInfo>() // removed between the listing and now: left out
            .ToList();

    public ImageInfo GetInfo(string name) => TryGetInfo(name) ?? throw Absent(name, InfoObject);

    private ImageInfo? TryGetInfo(string name) =>
        Run(ct => _bucket.TryGetAsync(ImageObject(name, InfoObject), ct)) is { } json
            ? JsonSerializer.Deserialize(json, ImageInfoJson.Default.ImageInfo) ?? throw new ImageStoreException($"{InfoObject} of image '{name}' is empty")
            : null;

    public byte[] ReadEncodedManifest(string name) =>
        Run(ct => _bucket.TryGetAsync(ImageObject(name, ManifestObject), ct)) ?? throw new ImageNotFoundException(name);

    public byte[]? ReadBootProfile(string name) => Run(ct => _bucket.TryGetAsync(ImageObject(name, BootProfileObject), ct));

    public void WriteBootProfile(string name, ReadOnlySpan<byte> profile)
    {
        if (!Exists(name))
            throw new ImageNotFoundException(name);
        byte[] content = profile.ToArray();
        Run(ct => _bucket.PutAsync(ImageObject(name, BootProfileObject), content, ct));
    }

    public bool TryWriteBootProfileOnce(string name, ReadOnlySpan<byte> profile)
    {
        if (!Exists(name))
            throw new ImageNotFoundException(name);
        byte[] content = profile.ToArray();
        return Run(ct => _bucket.TryPutNewAsync(ImageObject(name, BootProfileObject), content, ct));
    }

    /// <summary>One GET of the manifest object.</summary>
    public async ValueTask<byte[]?> TryReadEncodedManifestAsync(string name, CancellationToken cancellationToken) =>
        ImageName.IsValid(name) ? await _bucket.TryGetAsync(ImageObject(name, ManifestObject), cancellationToken) : null;

    /// <summary>A HEAD of the manifest object (a removed image's profile may outlive it briefly), then a GET of the profile.</summary>
    public async ValueTask<byte[]?> TryReadBootProfileAsync(string name, CancellationToken cancellationToken) =>
        ImageName.IsValid(name) && await _bucket.ExistsAsync(ImageObject(name, ManifestObject), cancellationToken)
            ? await _bucket.TryGetAsync(ImageObject(name, BootProfileObject), cancellationToken)
            : null;

    public IBlockDevice OpenImage(string name) => Run(ct => TryOpenImageAsync(name, ct).AsTask()) ?? throw new ImageNotFoundException(name);

    /// <summary>One GET of the manifest (none: no image) and the pack list's refresh (two LISTs, new indexes fetched).</summary>
    public async ValueTask<IBlockDevice?> TryOpenImageAsync(string name, CancellationToken cancellationToken)
    {
        if (!ImageName.IsValid(name) || await _bucket.TryGetAsync(ImageObject(name, ManifestObject), cancellationToken) is not { } encoded)
            return null;
        await _packs.RefreshAsync(cancellationToken);
        return new ObjectImageDevice(Manifest.Decode(encoded), _reader);
    }

    public void Refresh() => Run(ct => _packs.RefreshAsync(ct));

    public string? KeyFingerprint =>
        Run(ct => _bucket.TryGetAsync(PublicKeyObject, ct)) is { } publicKey ? Manifest.KeyFingerprintOf(publicKey) : null;

    /// <summary>Unpublish at once (the manifest object goes first), then collect with <paramref name="grace"/>.</summary>
    public GarbageReport Remove(string name, TimeSpan grace)
    {
        if (!Exists(name))
            throw new ImageNotFoundException(name);
        foreach (string file in new[] { ManifestObject, InfoObject, BootProfileObject })
            Run(ct => _bucket.DeleteAsync(ImageObject(name, file), ct));
        return CollectGarbage(grace);
    }

    public GarbageReport CollectGarbage(TimeSpan grace) =>
        Run(ct => new ObjectGarbageCollector(_bucket, _packs).CollectAsync(ReferencedChunks(), grace, ct));

    /// <summary>Every chunk a published manifest names; a damaged manifest stops the collection before anything is deleted.</summary>
    private HashSet<Packs.ChunkKey> ReferencedChunks()
    {
        var referenced = new HashSet<Packs.ChunkKey>();
        foreach (var info in List())
        {
            var manifest = ((IImageStore)this).ReadManifest(info.Name);
            for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
                if (!manifest.IsZeroChunk(chunk))
                    referenced.Add(Packs.ChunkKey.From(manifest.ChunkHash(chunk)));
        }
        return referenced;
    }

    public void AssignMissingAoeSlots()
    {
        foreach (var info in List().Where(i => i.AoeSlot is null))
            if (AoeSlots.Choose(List(), info.Name) is { } slot)
                PutInfo(info with { AoeSlot = slot });
    }

    /// <summary>Where an import converts and stages packs before uploading them: local, removed when the import ends.</summary>
    string IStoreBackend.TemporaryDirectory => _stagingRoot;

    IStoredChunks IStoreBackend.StoredChunks => new ObjectStoredChunks(_bucket, Run(ct => _packs.RefreshAsync(ct)));

    IDisposable IStoreBackend.BeginImport()
    {
        Run(ct => _bucket.EnsureBucketAsync(ct));
        Refresh(); // the packs a rerun of an interrupted import finds its chunks in
        return new StagingDirectory(_stagingRoot);
    }

    IChunkBatch IStoreBackend.BeginBatch(int maxPendingChunks) =>
        new ObjectChunkBatch(_bucket, _packs, Directory.CreateDirectory(Path.Combine(_stagingRoot, "packs-" + Guid.NewGuid().ToString("N"))).FullName, maxPendingChunks);

    /// <summary>The local signing key; the bucket records its public half on first use and refuses a different one.</summary>
    ECDsa IStoreBackend.SigningKey()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(KeyPath)!);
        var key = _key.LoadOrCreate();
        byte[] publicKey = key.ExportSubjectPublicKeyInfo();
        string local = Manifest.KeyFingerprintOf(publicKey);
        if (KeyFingerprint is not { } recorded)
            Run(ct => _bucket.PutAsync(PublicKeyObject, publicKey, ct));
        else if (recorded != local)
        {
            key.Dispose();
            throw new ImageStoreException($"{Location} holds manifests signed by key {recorded[..16]}…, but this machine's key {KeyPath} is {local[..16]}…: import from the machine that holds the store's key (or copy it there)");
        }
        return key;
    }

    (ImageInfo Published, bool Replaced) IStoreBackend.Publish(string name, Manifest manifest, ImageInfo info, bool replace)
    {
        bool exists = Exists(name);
        if (exists && !replace)
            throw new ImageExistsException(name);
        // gc may have deleted a pack this import reused since the import began: check that every chunk is still there.
        var packs = Run(ct => _packs.RefreshAsync(ct));
        for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
            if (!manifest.IsZeroChunk(chunk) && !packs.TryLocate(Packs.ChunkKey.From(manifest.ChunkHash(chunk)), out _))
                throw new ImageStoreException($"chunk {chunk} of '{name}' is no longer in {Location} (garbage collection deleted its pack during the import): nothing was published; import again");
        info = info with { AoeSlot = AoeSlots.Choose(List(), name) };
        PutInfo(info);
        Run(ct => _bucket.PutAsync(ImageObject(name, ManifestObject), manifest.Encode(), ct)); // publication
        return (info, exists);
    }

    public void Dispose()
    {
        _bucket.Dispose();
        if (Directory.Exists(_stagingRoot))
            Directory.Delete(_stagingRoot, recursive: true);
    }

    private void PutInfo(ImageInfo info)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(info, ImageInfoJson.Default.ImageInfo);
        Run(ct => _bucket.PutAsync(ImageObject(info.Name, InfoObject), json, ct));
    }

    private ImageStoreException Absent(string name, string file) =>
        Exists(name) ? new ImageStoreException($"image '{name}' is damaged: {file} is missing") : new ImageNotFoundException(name);

    private static string ImageObject(string name, string file)
    {
        ImageName.Validate(name);
        return ImagesDirectory + name + "/" + file;
    }

    /// <summary>The store's interface is synchronous (the directory store's is); S3 calls are not.</summary>
    private static T Run<T>(Func<CancellationToken, Task<T>> request) => Task.Run(() => request(CancellationToken.None)).GetAwaiter().GetResult();

    private static void Run(Func<CancellationToken, Task> request) => Task.Run(() => request(CancellationToken.None)).GetAwaiter().GetResult();

    /// <summary>An import's local staging directory, removed when the import ends.</summary>
    private sealed class StagingDirectory : IDisposable
    {
        private readonly string _path;

        public StagingDirectory(string path) => Directory.CreateDirectory(_path = path);

        public void Dispose()
        {
            if (Directory.Exists(_path))
                Directory.Delete(_path, recursive: true);
        }
    }
}
