using Bmcast.Core.Manifests;
using Bmcast.Engine.Verification;
using Bmcast.Images;
using Bmcast.Machines.Qmp;

namespace Bmcast.Agent;

/// <summary>
/// Failures an operator can act on (bad input, a missing file, a refused manifest, a server that is
/// down): every command reports them as one line and exit code 1 instead of a stack trace. Anything
/// else is a bug and keeps its stack trace.
/// </summary>
public static class OperatorError
{
    public static bool Is(Exception e) => e is IOException or InvalidDataException or UnauthorizedAccessException
        or ArgumentException or FormatException or System.Net.Sockets.SocketException
        or ImageStoreException or ManifestFormatException or ManifestTrustException or QmpException;
}
