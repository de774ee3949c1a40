namespace Bmcast.Protocols.Nbd.Client;

/// <summary>
/// The server answered a handshake option with an error reply, e.g. NBD_REP_ERR_UNKNOWN for an
/// export it does not have. Distinct from transport failures so callers can tell "no such export"
/// (a foreign server without a <c>manifest:</c> export) from "the server is down".
/// </summary>
public sealed class NbdOptionRefusedException(NbdOptionReply reply, string message) : IOException(message)
{
    public NbdOptionReply Reply { get; } = reply;
}
