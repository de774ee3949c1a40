using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Nbd;

/// <summary>The one translation between failures and NBD error values, for both directions.</summary>
public static class NbdErrors
{
    private const int EFBIG = 27;
    private const int EDQUOT = 122;

    /// <summary>What the server reports for a failed device call.</summary>
    public static NbdError FromException(Exception exception) => exception switch
    {
        BlockDeviceException device => FromErrno(device.Errno),
        OperationCanceledException => NbdError.Shutdown,
        _ => NbdError.Io,
    };

    /// <summary>Map a POSIX errno onto the few values the wire allows (the spec asks EDQUOT and EFBIG to become ENOSPC).</summary>
    public static NbdError FromErrno(int errno) => errno switch
    {
        1 => NbdError.Perm,
        5 => NbdError.Io,
        12 => NbdError.NoMem,
        22 => NbdError.Inval,
        28 or EFBIG or EDQUOT => NbdError.NoSpc,
        75 => NbdError.Overflow,
        95 => NbdError.NotSup,
        108 => NbdError.Shutdown,
        _ => NbdError.Io,
    };

    /// <summary>What a client throws for an error reply: an <see cref="IOException"/> carrying the server's errno.</summary>
    public static BlockDeviceException ToException(NbdError error, string context, string serverMessage)
    {
        string detail = serverMessage.Length > 0 ? $": {serverMessage}" : "";
        return new BlockDeviceException((int)error, $"{context} failed with {Name(error)}{detail}");
    }

    public static string Name(NbdError error) => error switch
    {
        NbdError.Perm => "EPERM",
        NbdError.Io => "EIO",
        NbdError.NoMem => "ENOMEM",
        NbdError.Inval => "EINVAL",
        NbdError.NoSpc => "ENOSPC",
        NbdError.Overflow => "EOVERFLOW",
        NbdError.NotSup => "ENOTSUP",
        NbdError.Shutdown => "ESHUTDOWN",
        _ => $"error {(uint)error}",
    };
}
