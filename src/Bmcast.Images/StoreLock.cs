using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// An advisory lock on the whole store (flock on <c>store.lock</c>). Imports hold it shared, so any
/// number may run at once; garbage collection holds it exclusive, because a chunk written by an
/// import in progress is not yet referenced by any manifest and would otherwise look like garbage.
/// <see cref="Naming"/> (flock on <c>names.lock</c>) serializes the short moments that give out AoE slots, and
/// <see cref="Packing"/> (<c>packs.lock</c>) those that publish a pack.
/// </summary>
internal sealed class StoreLock : IDisposable
{
    private readonly SafeFileHandle _handle;

    private StoreLock(SafeFileHandle handle) => _handle = handle;

    private const string StoreFile = "store.lock";

    public static StoreLock Shared(string root) => Take(root, StoreFile, LibC.LOCK_SH)!;

    public static StoreLock Exclusive(string root) => Take(root, StoreFile, LibC.LOCK_EX)!;

    /// <summary>Held while an AoE slot is chosen and recorded, so two publishers never choose the same one.</summary>
    public static StoreLock Naming(string root) => Take(Path.Combine(root, "names.lock"), LibC.O_RDWR | LibC.O_CREAT, LibC.LOCK_EX)!;

    /// <summary>Held while a pack is published, so two writers never both index a chunk they both wrote.</summary>
    public static StoreLock Packing(string root) => Take(Path.Combine(root, "packs.lock"), LibC.O_RDWR | LibC.O_CREAT, LibC.LOCK_EX)!;

    /// <summary>
    /// A reader's hold on an image: a shared flock on its manifest file (opened read-only, so read-only stores work),
    /// for as long as a device of the image is open. Null while the image is being removed or replaced.
    /// </summary>
    public static StoreLock? TryImageReader(string manifestPath) => Take(manifestPath, 0, LibC.LOCK_SH | LibC.LOCK_NB);

    /// <summary>Held while an image is removed or replaced: null while any reader holds it.</summary>
    public static StoreLock? TryImageRemoval(string manifestPath) => Take(manifestPath, 0, LibC.LOCK_EX | LibC.LOCK_NB);

    private static StoreLock? Take(string root, string file, int operation) =>
        Take(Path.Combine(root, file), LibC.O_RDWR | LibC.O_CREAT, operation);

    private static StoreLock? Take(string path, int openFlags, int operation)
    {
        // Not File.OpenHandle: .NET takes a non-blocking flock of its own on open to emulate FileShare, which fails
        // ("used by another process") instead of waiting while another thread or process holds the lock exclusively.
        int descriptor = LibC.open(path, openFlags | LibC.O_CLOEXEC, 0b110_100_100);
        if (descriptor < 0)
            throw LibC.Failure("open", path);
        var handle = new SafeFileHandle(descriptor, ownsHandle: true);
        while (LibC.flock(handle, operation) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EINTR)
                continue;
            var failure = LibC.Failure("flock", path);
            handle.Dispose();
            if (errno == LibC.EWOULDBLOCK)
                return null;
            throw failure;
        }
        return new StoreLock(handle);
    }

    // Closing the descriptor releases the flock.
    public void Dispose() => _handle.Dispose();
}
