namespace Bmcast.Images;

/// <summary>
/// A store operation failed for a reason the operator can act on (bad name, missing image, disk
/// full); the message is written for them and printed as is by the CLI.
/// </summary>
public class ImageStoreException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class ImageNotFoundException(string name)
    : ImageStoreException($"no image named '{name}' in the store")
{
    public string Name { get; } = name;
}

public sealed class ImageExistsException(string name)
    : ImageStoreException($"an image named '{name}' already exists (use --force to replace it)")
{
    public string Name { get; } = name;
}

/// <summary>
/// The store's file system filled up during an import. Temporary files are gone; chunks the import
/// already committed are collected at once unless another import is running (then by the next gc).
/// </summary>
public sealed class DiskFullException(string storeRoot, Exception inner)
    : ImageStoreException($"the disk holding the image store {storeRoot} is full ({inner.Message}); nothing was imported", inner);

/// <summary>
/// An image that a reader (a served NBD connection or AoE export) has open cannot be removed or replaced:
/// its chunks would be deleted under the reader.
/// </summary>
public sealed class ImageInUseException(string name)
    : ImageStoreException($"image '{name}' is in use (served or being read): stop its readers (bmcast serve, streams from it) and try again; nothing was changed")
{
    public string Name { get; } = name;
}
