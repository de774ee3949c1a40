using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>
/// An advisory lock on the whole store (flock on <c>store.lock</c>). Imports hold it shared, so any
/// number may run at once; garbage collection holds it exclusive, because a chunk written by an
/// import in progress is not yet referenced by any manifest and would otherwise look like garbage.
/// </summary>
internal sealed class StoreLock : IDisposable
{
    private readonly SafeFileHandle _handle;

    private StoreLock(SafeFileHandle handle) => _handle = handle;

    public static StoreLock Shared(string root) => Take(root, LibC.LOCK_SH)!;

    public static StoreLock Exclusive(string root) => Take(root, LibC.LOCK_EX)!;

    /// <summary>The exclusive lock if nobody holds the store lock right now, else null.</summary>
    public static StoreLock? TryExclusive(string root) => Take(root, LibC.LOCK_EX | LibC.LOCK_NB);

    private static StoreLock? Take(string root, int operation)
    {
        string path = Path.Combine(root, "store.lock");
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
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
