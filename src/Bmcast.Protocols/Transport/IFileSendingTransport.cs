using Bmcast.Core.Storage;

namespace Bmcast.Protocols.Transport;

/// <summary>
/// A transport that can have the kernel send a file's bytes itself (<c>sendfile</c>: from the page cache to the socket,
/// without the process reading them). Only in plaintext: under TLS every byte has to pass through the process.
/// </summary>
internal interface IFileSendingTransport
{
    /// <summary>False once the connection runs over TLS (or the kernel refused to send files on it).</summary>
    bool CanSendFiles { get; }

    /// <summary>
    /// Send up to <paramref name="count"/> bytes of <paramref name="position"/> now, without waiting for room on the socket:
    /// returns how many went (0 when the socket is full). Call it only with the output pipe flushed, or the bytes would
    /// overtake what is buffered. The caller keeps the file open meanwhile.
    /// </summary>
    int SendFileNow(in FilePosition position, int count);
}
