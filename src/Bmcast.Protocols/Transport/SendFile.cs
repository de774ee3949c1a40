using System.Runtime.InteropServices;

namespace Bmcast.Protocols.Transport;

/// <summary>Linux <c>sendfile(2)</c>, which .NET exposes only for whole files.</summary>
internal static partial class SendFile
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EINVAL = 22;
    public const int ENOSYS = 38;

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    public static partial nint Send(int outFd, int inFd, ref long offset, nuint count);
}
