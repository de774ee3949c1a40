using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;

namespace Bmcast.Images;

/// <summary>
/// Where images live, whatever holds them: a directory (<see cref="ImageStore"/>) or a bucket of an S3-compatible object
/// store (<see cref="ObjectStore.ObjectImageStore"/>). Both keep the same rules: chunks are published before the
/// manifest that names them, so an image is visible only once complete; <see cref="Remove"/> unpublishes at once;
/// garbage collection never deletes what a published manifest needs. Open one with <see cref="ImageStores"/>.
/// </summary>
public interface IImageStore
{
    /// <summary>The store as an operator names it: a directory path or <c>s3://BUCKET/PREFIX</c>.</summary>
    string Location { get; }

    bool Exists(string name);

    /// <summary>Every image, sorted by name.</summary>
    IReadOnlyList<ImageInfo> List();

    ImageInfo GetInfo(string name);

    /// <summary>The manifest exactly as stored and served (<c>manifest:NAME</c>).</summary>
    byte[] ReadEncodedManifest(string name);

    /// <summary>The decoded manifest; throws <see cref="ManifestFormatException"/> when it is damaged.</summary>
    Manifest ReadManifest(string name) => Manifest.Decode(ReadEncodedManifest(name));

    /// <summary>The image's boot profile (chunk indexes, one per line), or null when none was recorded.</summary>
    byte[]? ReadBootProfile(string name);

    /// <summary>
    /// For serving (<c>manifest:NAME</c>): the manifest as stored, null when there is no such image. Does not hold a
    /// thread while it waits for the store.
    /// </summary>
    ValueTask<byte[]?> TryReadEncodedManifestAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// For serving (<c>profile:NAME</c>): the image's boot profile, null when there is no such image or it has none.
    /// Does not hold a thread while it waits for the store.
    /// </summary>
    ValueTask<byte[]?> TryReadBootProfileAsync(string name, CancellationToken cancellationToken);

    /// <summary>Keep a boot profile with the image, replacing any earlier one atomically.</summary>
    void WriteBootProfile(string name, ReadOnlySpan<byte> profile);

    /// <summary>
    /// Keep a boot profile with the image unless it has one (a learned profile: the first stays); false, and nothing
    /// written, when it has. Of writers racing through several servers on one store, one wins.
    /// </summary>
    bool TryWriteBootProfileOnce(string name, ReadOnlySpan<byte> profile);

    /// <summary>The image as a read-only block device; <see cref="ImageNotFoundException"/> when there is none.</summary>
    IBlockDevice OpenImage(string name);

    /// <summary>
    /// The image as a read-only block device for serving, null when there is none; takes up what other processes
    /// published first (<see cref="Refresh"/>). Does not hold a thread while it waits for the store (a bucket's requests).
    /// </summary>
    ValueTask<IBlockDevice?> TryOpenImageAsync(string name, CancellationToken cancellationToken);

    /// <summary>Take up what other processes published (packs, images) before an image is opened.</summary>
    void Refresh();

    /// <summary>Fingerprint of the key this store signs with, or null when there is none here.</summary>
    string? KeyFingerprint { get; }

    /// <summary>Unpublish an image at once, then collect garbage (<see cref="CollectGarbage"/>) with <paramref name="grace"/>.</summary>
    GarbageReport Remove(string name, TimeSpan grace);

    /// <summary>
    /// Delete chunks no published manifest needs once they have been unreferenced for <paramref name="grace"/>, as
    /// counted from the collection that first found them so (<see cref="RemovalGrace"/>): servers may still be serving
    /// a removed image.
    /// </summary>
    GarbageReport CollectGarbage(TimeSpan grace);

    /// <summary>Give images published before AoE slots were recorded a slot of their own.</summary>
    void AssignMissingAoeSlots();
}
