using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Images;

/// <summary>The few POSIX calls .NET does not expose: sparse-file probing, fsync, no-clobber renames, advisory locks (and an open(2) that .NET does not lock itself) (directory syncs: Core's DirectorySync).</summary>
internal static class LibC
{
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;
    public const int ENXIO = 6;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int ENOSPC = 28;
    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int EWOULDBLOCK = 11;
    public const int EEXIST = 17;
    public const int AT_FDCWD = -100;
    public const uint RENAME_NOREPLACE = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_CLOEXEC = 0x80000;

    [DllImport("libc", SetLastError = true)]
    public static extern long lseek(SafeFileHandle fd, long offset, int whence);

    [DllImport("libc", SetLastError = true)]
    public static extern int fsync(SafeFileHandle fd);

    [DllImport("libc", SetLastError = true)]
    public static extern int renameat2(int olddirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath,
        int newdirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath, uint flags);

    [DllImport("libc", SetLastError = true)]
    public static extern int flock(SafeFileHandle fd, int operation);

    [DllImport("libc", SetLastError = true)]
    public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    public static IOException Failure(string what, string path)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what} failed on {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }
}
