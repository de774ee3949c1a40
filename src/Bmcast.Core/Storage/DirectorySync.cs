using System.Runtime.InteropServices;

namespace Bmcast.Core.Storage;

/// <summary>
/// fsync of a directory, which makes a rename or a new file's name durable. .NET cannot open a
/// directory as a file handle, so this goes to libc directly.
/// </summary>
public static class DirectorySync
{
    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000;

    public static void Sync(string directory)
    {
        int fd = open(directory, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory} to sync it: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed: errno {Marshal.GetLastPInvokeError()}");
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

    [DllImport("libc")]
    private static extern int close(int fd);
}
