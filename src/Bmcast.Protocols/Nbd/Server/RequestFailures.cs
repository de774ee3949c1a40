using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>How a connection answers a request its device failed: the mapped error, one log line, one count.</summary>
internal sealed class RequestFailures(ILogger logger, string peer, string export)
{
    public NbdReply Reply(in NbdRequest request, long cost, Exception exception)
    {
        var error = NbdErrors.FromException(exception);
        ServerMetrics.RecordNbdError(export, request.Command, error);
        // A device's own error (a full or failing disk) is one line; anything else keeps its stack trace.
        logger.LogWarning(exception is BlockDeviceException ? null : exception, "NBD {Peer}: {Command} at {Offset}+{Length} on '{Export}' failed ({Error}): {Message}",
            peer, request.Command, request.Offset, request.Length, export, NbdErrors.Name(error), exception.Message);
        return NbdReply.Failed(request, cost, error, $"{request.Command} failed: {exception.Message}");
    }
}
