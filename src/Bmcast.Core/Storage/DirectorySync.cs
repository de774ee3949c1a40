using System.Runtime.InteropServices;

namespace Bmcast.Core.Storage;

/// <summary>
/// Durability calls that need a directory descriptor: fsync of a directory (makes a rename or a new
/// file's name durable) and syncfs of the file system holding it. .NET cannot open a directory as
/// a file handle, so these go to libc directly.
/// </summary>
public static class DirectorySync
{
    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000;
    private const int O_CLOEXEC = 0x80000;

    public static void Sync(string directory) => WithDirectory(directory, "fsync", fsync);

    /// <summary>Write back everything dirty on the file system holding <paramref name="directory"/>, and wait.</summary>
    public static void SyncFileSystem(string directory) => WithDirectory(directory, "syncfs", syncfs);

    private static void WithDirectory(string directory, string what, Func<int, int> call)
    {
        int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (call(fd) != 0)
                throw new IOException($"{what} of {directory} failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            close(fd);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int syncfs(int fd);

    [DllImport("libc")]
    private static extern int close(int fd);
}
