using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Agent.Locking;

/// <summary>
/// Open-file-description byte locks (fcntl <c>F_OFD_SETLK</c>/<c>F_OFD_GETLK</c>): held by one open file, not by the
/// process, so closing another descriptor of the same file (the engine opens the target itself) does not drop them,
/// and a second open in the same process conflicts like another process would. .NET's own <c>FileShare</c> locking
/// uses <c>flock</c>, and QEMU uses OFD locks on bytes 100.. and 200.. only: a byte lock elsewhere collides with neither.
/// </summary>
internal static partial class OfdLock
{
    private const int FOfdGetlk = 36;
    private const int FOfdSetlk = 37;
    private const short FRdlck = 0;
    private const short FWrlck = 1;
    private const int EAgain = 11;
    private const int EAccess = 13;

    /// <summary>Takes an exclusive lock on one byte; false when another open file holds a lock there.</summary>
    public static bool TryLockExclusive(SafeFileHandle file, long offset, string path) => TryLock(file, FWrlck, offset, path);

    /// <summary>Takes a shared lock on one byte; false when another open file holds an exclusive lock there.</summary>
    public static bool TryLockShared(SafeFileHandle file, long offset, string path) => TryLock(file, FRdlck, offset, path);

    private static bool TryLock(SafeFileHandle file, short type, long offset, string path)
    {
        var request = new Flock { Type = type, Start = offset, Length = 1 };
        if (fcntl(file, FOfdSetlk, ref request) == 0)
            return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EAgain or EAccess)
            return false;
        throw new IOException($"cannot lock {path}: errno {errno}");
    }

    /// <summary>Whether another open file holds any lock on the byte at <paramref name="offset"/> (a write would conflict).</summary>
    public static bool IsLockedByOther(SafeFileHandle file, long offset, string path)
    {
        var probe = new Flock { Type = FWrlck, Start = offset, Length = 1 };
        if (fcntl(file, FOfdGetlk, ref probe) != 0)
            throw new IOException($"cannot test the locks of {path}: errno {Marshal.GetLastPInvokeError()}");
        return probe.Type is FRdlck or FWrlck;
    }

    /// <summary>struct flock of Linux's 64-bit ABIs (x86-64, arm64): off_t is 64 bits.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(SafeFileHandle fd, int cmd, ref Flock lockRequest);
}
