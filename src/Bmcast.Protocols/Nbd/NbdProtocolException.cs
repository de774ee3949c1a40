namespace Bmcast.Protocols.Nbd;

/// <summary>
/// The peer broke the protocol (bad magic, impossible length, unknown mandatory flag): the only
/// remedy is dropping the connection. Errors the protocol can answer are not exceptions.
/// </summary>
public sealed class NbdProtocolException(string message) : IOException(message);
