using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bmcast.Engine;

internal static class FileSync
{
    [DllImport("libc", SetLastError = true)]
    public static extern int fsync(SafeFileHandle fd);
}
