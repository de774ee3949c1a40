using System.Runtime.InteropServices;

namespace Bmcast.Tests.Machines;

/// <summary>
/// Another program's claim on a disk file as QEMU's image locking sees it: an open file description lock on byte
/// 201, "I do not share write permission" in QEMU's lock-byte layout (200 + the WRITE permission bit). QEMU then opens
/// the file, but refuses any job that would write it ("Failed to get "write" lock"), as it would beside a backup tool
/// holding the image. Disposing releases it.
/// </summary>
internal sealed class ForeignTargetLock : IDisposable
{
    // Close-on-exec: a child started meanwhile (by any test) would otherwise share the description, and its lock.
    private const int OpenReadWriteCloseOnExec = 2 | 0x80000;
    private const int OfdSetLock = 37; // F_OFD_SETLK
    private const short ReadLock = 0;  // F_RDLCK
    private const long NoWriteSharingByte = 201;
    private readonly int _fd;
    private bool _released;

    public ForeignTargetLock(string path)
    {
        _fd = open(path, OpenReadWriteCloseOnExec);
        if (_fd < 0)
            throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
        var claim = new Flock { Type = ReadLock, Whence = 0, Start = NoWriteSharingByte, Length = 1 };
        if (fcntl(_fd, OfdSetLock, ref claim) != 0)
        {
            close(_fd);
            throw new IOException($"F_OFD_SETLK on {path}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Release the claim (closing the descriptor drops its lock); again is harmless.</summary>
    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        close(_fd);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open(string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, ref Flock flock);

    [DllImport("libc")]
    private static extern int close(int fd);
}
