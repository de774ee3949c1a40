using Bmcast.Core.Storage;
using System.Security.Cryptography;
using System.Text.Json;
using Bmcast.Core.Manifests;
using Bmcast.Images.Packs;

namespace Bmcast.Images;

/// <summary>
/// A directory of images: deduplicated chunks, one signed manifest per image, and the key that signs
/// them. Layout (see docs/images.md):
/// <code>
///   store.lock                 flock: shared while importing, exclusive while collecting garbage
///   names.lock                 flock: exclusive while an AoE slot is given out
///   keys/store.key             ECDSA P-256, PKCS#8 PEM, 0600
///   packs.lock                 flock: exclusive while a pack is published
///   packs/pack-ID.pack         distinct non-zero chunks, appended (PackFormat)
///   packs/pack-ID.idx          the pack's index: SHA-256 → offset, length (PackIndex); a pack is in the store once it has one
///   images/NAME/manifest       Manifest.Encode()
///   images/NAME/image.json     ImageInfo
///   gc/pack-ID                 a pack garbage collection found unreferenced, since the file's time (RemovalGrace)
///   tmp/                       staging; anything here is garbage once no import holds the lock
/// </code>
/// An image exists exactly when <c>images/NAME</c> does; it is published by renaming a complete,
/// durable staging directory, so an import that dies leaves nothing visible. Stores from before packs keep one file
/// per chunk in <c>chunks/ab/abcd…</c>: read as they are, moved into packs by the first write (<see cref="LayoutMigration"/>).
/// </summary>
public sealed class ImageStore : IStoreBackend
{
    public const string StoreEnvironmentVariable = "BMCAST_STORE";
    /// <summary>AoE slots 0 to 254 of one shelf (255 is the broadcast address).</summary>
    public const int AoeSlotCount = AoeSlots.Count;
    private const string ManifestFile = "manifest";
    private const string InfoFile = "image.json";
    private const string BootProfileFile = "boot-profile";

    private readonly string _imagesDirectory;
    private readonly StoreKey _key;
    private readonly Action<string>? _log;

    private ImageStore(string root, bool create, Action<string>? log)
    {
        _log = log;
        if (File.Exists(root))
            throw new ImageStoreException($"{root} is a file, not an image store directory (--store names a directory)");
        if (!create && !Directory.Exists(Path.Combine(root, "images")))
            throw new ImageStoreException($"no image store at {root} (nothing has been imported there)");
        Root = root;
        _imagesDirectory = Path.Combine(root, "images");
        TemporaryDirectory = Path.Combine(root, "tmp");
        string keys = Path.Combine(root, "keys");
        if (create)
            foreach (string directory in new[] { root, _imagesDirectory, TemporaryDirectory, keys }) // packs/: by the first pack
                Directory.CreateDirectory(directory);
        Chunks = new ChunkStore(root);
        _key = new StoreKey(Path.Combine(keys, "store.key"), TemporaryDirectory);
    }

    public string Root { get; }

    public string Location => Root;

    public ChunkStore Chunks { get; }

    /// <summary>Where imports stage files; on the store's file system so renames are atomic.</summary>
    internal string TemporaryDirectory { get; }

    /// <summary>
    /// The store directory: <paramref name="explicitRoot"/> (<c>--store</c>), else <c>$BMCAST_STORE</c>,
    /// else <c>$XDG_DATA_HOME/bmcast</c>, else <c>~/.local/share/bmcast</c>.
    /// </summary>
    public static string ResolveRoot(string? explicitRoot)
    {
        if (!string.IsNullOrEmpty(explicitRoot))
            return Path.GetFullPath(explicitRoot);
        string? fromEnvironment = Environment.GetEnvironmentVariable(StoreEnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
            return Path.GetFullPath(fromEnvironment);
        string? dataHome = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(dataHome))
            dataHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(dataHome, "bmcast");
    }

    /// <summary>Open (creating if needed) the store at <see cref="ResolveRoot"/>(<paramref name="explicitRoot"/>).</summary>
    /// <param name="log">Where to say what the store did of its own accord (the one-time move into packs).</param>
    public static ImageStore Open(string? explicitRoot = null, Action<string>? log = null) => new(ResolveRoot(explicitRoot), create: true, log);

    /// <summary>Open the store at <see cref="ResolveRoot"/>(<paramref name="explicitRoot"/>) only if it exists: commands that read must not create one.</summary>
    public static ImageStore OpenExisting(string? explicitRoot = null, Action<string>? log = null) => new(ResolveRoot(explicitRoot), create: false, log);

    string IStoreBackend.TemporaryDirectory => TemporaryDirectory;

    IStoredChunks IStoreBackend.StoredChunks => Chunks;

    IDisposable IStoreBackend.BeginImport()
    {
        MigrateLayout();
        return LockShared();
    }

    IChunkBatch IStoreBackend.BeginBatch(int maxPendingChunks) => Chunks.BeginBatch(maxPendingChunks);

    ECDsa IStoreBackend.SigningKey() => SigningKey();

    (ImageInfo Published, bool Replaced) IStoreBackend.Publish(string name, Manifest manifest, ImageInfo info, bool replace) =>
        Publish(name, manifest, info, replace);

    IBlockDevice IImageStore.OpenImage(string name) => OpenDevice(name);

    ValueTask<IBlockDevice?> IImageStore.TryOpenImageAsync(string name, CancellationToken cancellationToken)
    {
        if (!Exists(name))
            return ValueTask.FromResult<IBlockDevice?>(null);
        Refresh();
        return ValueTask.FromResult<IBlockDevice?>(OpenDevice(name));
    }

    ValueTask<byte[]?> IImageStore.TryReadEncodedManifestAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Exists(name) ? ReadEncodedManifest(name) : null);

    ValueTask<byte[]?> IImageStore.TryReadBootProfileAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Exists(name) ? ReadBootProfile(name) : null);

    /// <summary>Take up packs imports published and let go of those garbage collection removed (their space is freed then).</summary>
    public void Refresh() => Chunks.Refresh();

    public bool Exists(string name) => ImageName.IsValid(name) && Directory.Exists(ImageDirectory(name));

    /// <summary>
    /// Every image, sorted by name. An image removed while this lists (<c>image rm</c> renames its directory away) is
    /// left out: it was seen, then gone, and the listing is of what is there.
    /// </summary>
    public IReadOnlyList<ImageInfo> List()
    {
        var images = new List<ImageInfo>();
        foreach (string name in Directory.EnumerateDirectories(_imagesDirectory).Select(Path.GetFileName).Where(n => ImageName.IsValid(n!)).Order(StringComparer.Ordinal)!)
        {
            try
            {
                images.Add(GetInfo(name));
            }
            catch (ImageNotFoundException)
            {
            }
        }
        return images;
    }

    public ImageInfo GetInfo(string name)
    {
        byte[] json = ReadImageFile(name, InfoFile);
        return JsonSerializer.Deserialize(json, ImageInfoJson.Default.ImageInfo)
               ?? throw new ImageStoreException($"{InfoFile} of image '{name}' is empty");
    }

    /// <summary>The manifest exactly as stored and served (<c>manifest:NAME</c>).</summary>
    public byte[] ReadEncodedManifest(string name) => ReadImageFile(name, ManifestFile);

    /// <summary>The image's boot profile (chunk indexes, one per line), or null when none was recorded.</summary>
    public byte[]? ReadBootProfile(string name)
    {
        string path = Path.Combine(ImageDirectory(name), BootProfileFile);
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    /// <summary>Keep a boot profile with the image, replacing any earlier one atomically.</summary>
    public void WriteBootProfile(string name, ReadOnlySpan<byte> profile)
    {
        if (!Exists(name))
            throw new ImageNotFoundException(name);
        WriteImageFileAtomically(name, BootProfileFile, profile);
    }

    /// <summary>
    /// Keep a boot profile with the image unless it has one: false, and nothing written, when it has. Write-once across
    /// servers sharing the store too: the durable file is linked into place (a no-replace move), so of racing writers one wins.
    /// </summary>
    public bool TryWriteBootProfileOnce(string name, ReadOnlySpan<byte> profile)
    {
        if (!Exists(name))
            throw new ImageNotFoundException(name);
        string path = Path.Combine(ImageDirectory(name), BootProfileFile);
        string temporary = $"{path}.{Guid.NewGuid():N}.new";
        DurableFile.WriteNew(temporary, profile);
        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary);
            return false;
        }
        DirectorySync.Sync(ImageDirectory(name));
        return true;
    }

    /// <summary>Replace one of an image's files: the new bytes are durable under another name, then renamed over it.</summary>
    private void WriteImageFileAtomically(string name, string file, ReadOnlySpan<byte> content)
    {
        string path = Path.Combine(ImageDirectory(name), file);
        string temporary = path + ".new";
        File.Delete(temporary);
        DurableFile.WriteNew(temporary, content);
        File.Move(temporary, path, overwrite: true);
        DirectorySync.Sync(ImageDirectory(name));
    }

    /// <summary>The decoded manifest; throws <see cref="ManifestFormatException"/> when it is damaged.</summary>
    public Manifest ReadManifest(string name) => Manifest.Decode(ReadEncodedManifest(name));

    /// <summary>
    /// The image as a block device. While it is open the image cannot be removed or replaced (its chunks would vanish
    /// under the reader): <see cref="Remove"/> and a replacing publish refuse with <see cref="ImageInUseException"/>.
    /// </summary>
    public StoredImageDevice OpenDevice(string name)
    {
        StoreLock? reader;
        try
        {
            reader = StoreLock.TryImageReader(Path.Combine(ImageDirectory(name), ManifestFile));
        }
        catch (IOException e) when (e.HResult == LibC.ENOENT)
        {
            throw new ImageNotFoundException(name);
        }
        if (reader is null)
            throw new ImageNotFoundException(name); // being removed or replaced right now
        try
        {
            return new StoredImageDevice(ReadManifest(name), Chunks, reader);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Hold an image against readers while it is removed or replaced; null when its manifest is missing (a damaged image).</summary>
    private StoreLock? HoldForRemoval(string name)
    {
        try
        {
            return StoreLock.TryImageRemoval(Path.Combine(ImageDirectory(name), ManifestFile)) ?? throw new ImageInUseException(name);
        }
        catch (IOException e) when (e.HResult == LibC.ENOENT)
        {
            return null;
        }
    }

    /// <summary>Fingerprint of the store's signing key, or null before anything was imported.</summary>
    public string? KeyFingerprint => _key.PublicKey() is { } publicKey ? Manifest.KeyFingerprintOf(publicKey) : null;

    internal ECDsa SigningKey() => _key.LoadOrCreate();

    /// <summary>
    /// Publish a manifest and its info as image <paramref name="name"/>: both are written to a durable
    /// staging directory, which is then renamed into place. With <paramref name="replace"/> an existing
    /// image of that name is swapped out; the name is absent for the moment between the two renames.
    /// Returns the info as published (with its AoE slot) and whether an image was replaced.
    /// </summary>
    internal (ImageInfo Published, bool Replaced) Publish(string name, Manifest manifest, ImageInfo info, bool replace)
    {
        using var naming = StoreLock.Naming(Root);
        AssignMissingAoeSlotsLocked();
        info = info with { AoeSlot = ChooseAoeSlot(name) };
        string staging = Path.Combine(TemporaryDirectory, "image-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            DurableFile.WriteNew(Path.Combine(staging, ManifestFile), manifest.Encode());
            DurableFile.WriteNew(Path.Combine(staging, InfoFile), JsonSerializer.SerializeToUtf8Bytes(info, ImageInfoJson.Default.ImageInfo));
            DirectorySync.Sync(staging);
            string final = ImageDirectory(name);
            bool replaced = false;
            // No-clobber rename: of two imports racing for one name, exactly one wins.
            while (!DurableFile.RenameNoReplace(staging, final))
            {
                if (!replace)
                    throw new ImageExistsException(name);
                using (HoldForRemoval(name))
                    Discard(final);
                replaced = true;
            }
            DirectorySync.Sync(_imagesDirectory);
            return (info, replaced);
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// Give every image published before AoE slots were recorded a slot of its own, in name order, so their numbers
    /// stop depending on what else is in the store. <c>bmcast serve --aoe</c> calls it at start; publishing does too.
    /// </summary>
    public void AssignMissingAoeSlots()
    {
        using var naming = StoreLock.Naming(Root);
        AssignMissingAoeSlotsLocked();
    }

    private void AssignMissingAoeSlotsLocked()
    {
        foreach (var info in List().Where(i => i.AoeSlot is null))
        {
            if (ChooseAoeSlot(info.Name) is not { } slot)
                continue;
            try
            {
                WriteImageFileAtomically(info.Name, InfoFile, JsonSerializer.SerializeToUtf8Bytes(info with { AoeSlot = slot }, ImageInfoJson.Default.ImageInfo));
            }
            catch (IOException) when (!Exists(info.Name))
            {
                // Removed since it was listed (image rm does not take the naming lock): it needs no slot any more.
            }
        }
    }

    /// <summary>The slot for an image published as <paramref name="name"/> (<see cref="AoeSlots.Choose"/>). Caller holds the naming lock.</summary>
    private int? ChooseAoeSlot(string name) => AoeSlots.Choose(List(), name);

    /// <summary>Remove an image, then collect garbage (<see cref="CollectGarbage"/>) with <paramref name="grace"/>.</summary>
    public GarbageReport Remove(string name, TimeSpan grace)
    {
        ImageName.Validate(name);
        using var exclusive = StoreLock.Exclusive(Root);
        string directory = ImageDirectory(name);
        if (!Directory.Exists(directory))
            throw new ImageNotFoundException(name);
        using (HoldForRemoval(name))
            Discard(directory);
        return CollectGarbageLocked(grace);
    }

    /// <summary>
    /// Reclaim the space of chunks no manifest references (packs compacted: <see cref="PackCompactor"/>) once they have
    /// been unreferenced for <paramref name="grace"/> (<see cref="RemovalGrace"/>), and leftovers of imports that died;
    /// an old store is moved into packs first.
    /// </summary>
    public GarbageReport CollectGarbage(TimeSpan grace)
    {
        using var exclusive = StoreLock.Exclusive(Root);
        return CollectGarbageLocked(grace);
    }

    internal StoreLock LockShared() => StoreLock.Shared(Root);

    /// <summary>
    /// Move a store from before packs into packs, once, before the first write to it (an import calls this before it
    /// takes the store's shared lock; <c>rm</c> and <c>gc</c> migrate under their exclusive one).
    /// </summary>
    internal void MigrateLayout()
    {
        if (!Chunks.Loose.Exist)
            return;
        using var exclusive = StoreLock.Exclusive(Root);
        MigrateLayoutLocked();
    }

    private void MigrateLayoutLocked()
    {
        if (LayoutMigration.Run(Chunks) is { } moved)
            _log?.Invoke($"image store {Root}: moved {moved.Chunks} chunk files ({ByteSize.Format(moved.Bytes)}) from chunks/ into packs/ (one-time migration to the pack layout)");
    }

    private GarbageReport CollectGarbageLocked(TimeSpan grace)
    {
        MigrateLayoutLocked();
        // Decode every manifest before deleting anything: a damaged manifest aborts the collection
        // rather than letting its chunks be taken for garbage.
        var referenced = new HashSet<ChunkKey>();
        foreach (var info in List())
        {
            var manifest = ReadManifest(info.Name);
            for (long chunk = 0; chunk < manifest.ChunkCount; chunk++)
                if (!manifest.IsZeroChunk(chunk))
                    referenced.Add(ChunkKey.From(manifest.ChunkHash(chunk)));
        }
        GarbageReport report;
        try
        {
            report = PackCompactor.Collect(Chunks, referenced, grace);
        }
        catch (PackFormatException e)
        {
            throw new ImageStoreException($"garbage collection stopped before deleting any chunk: {e.Message} (move the damaged pack's files out of {Chunks.PacksDirectory} to go on; images that need its chunks then fail `image verify`)", e);
        }
        foreach (string leftover in Directory.EnumerateFileSystemEntries(TemporaryDirectory))
        {
            if (Directory.Exists(leftover))
                Directory.Delete(leftover, recursive: true);
            else
                File.Delete(leftover);
        }
        return report;
    }

    /// <summary>Make a directory vanish atomically (rename into tmp/), then delete it at leisure.</summary>
    private void Discard(string directory)
    {
        string trash = Path.Combine(TemporaryDirectory, "removed-" + Guid.NewGuid().ToString("N"));
        Directory.Move(directory, trash);
        DirectorySync.Sync(_imagesDirectory);
        Directory.Delete(trash, recursive: true);
    }

    private string ImageDirectory(string name)
    {
        ImageName.Validate(name);
        return Path.Combine(_imagesDirectory, name);
    }

    private byte[] ReadImageFile(string name, string file)
    {
        string directory = ImageDirectory(name);
        try
        {
            return File.ReadAllBytes(Path.Combine(directory, file));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Directory.Exists(directory)
                ? new ImageStoreException($"image '{name}' is damaged: {file} is missing", e)
                : new ImageNotFoundException(name);
        }
    }
}
