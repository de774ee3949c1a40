using System.Runtime.CompilerServices;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// The memory one connection may hold for its requests' data (read replies not yet sent, write payloads not yet
/// written): its own limit, and a share of the server's total. The read loop acquires a request's bytes before
/// dispatching it and the request releases them once its reply is sent, so a client that does not read its replies
/// stalls only itself (the server stops reading its requests) and the server's memory stays bounded whatever the
/// clients do. Bytes are released only once the reply has been handed to the socket: <see cref="NbdReplyWriter"/>
/// releases a batch's bytes after the flush that sent it.
/// </summary>
internal sealed class ReplyBudget(ByteBudget shared, long perConnection)
{
    private readonly ByteBudget _own = new(perConnection);

    /// <summary>What a request holds while it runs: the data its reply carries or its payload; nothing for the others.</summary>
    public static long Cost(in NbdRequest request) =>
        request.Command is NbdCommand.Read or NbdCommand.Write ? request.Length : 0;

    /// <summary>Wait until <paramref name="bytes"/> fit in this connection's limit, then in the server's total.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        if (bytes == 0)
            return;
        await _own.AcquireAsync(bytes, cancellationToken).ConfigureAwait(false);
        try
        {
            await shared.AcquireAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _own.Release(bytes);
            throw;
        }
    }

    public void Release(long bytes)
    {
        if (bytes == 0)
            return;
        shared.Release(bytes);
        _own.Release(bytes);
    }
}
