using System.IO.Pipelines;
using System.Security.Authentication;
using Bmcast.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Bmcast.Protocols.Nbd.Server;

/// <summary>
/// One client's lifetime: handshake, then transmission, then close. Whatever goes wrong ends only this
/// connection, with one log line that says why.
/// </summary>
internal sealed class NbdServerConnection(IExportCatalog catalog, NbdServerOptions options, ReplyBudget budget, ILogger logger, IDuplexPipe transport, string peer)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        logger.LogDebug("NBD {Peer}: connected", peer);
        ServerMetrics.RecordNbdConnection();
        try
        {
            var session = await NegotiateAsync(cancellationToken);
            if (session is null)
                return;
            logger.LogDebug("NBD {Peer}: serving '{Export}' ({Size} bytes, {Flags}, structured replies {Structured})",
                peer, session.ExportName, session.Size, session.Flags, session.StructuredReplies);
            await using (session.Device)
            {
                using var transmission = new NbdServerTransmission(session, transport, options, budget, logger, peer);
                await transmission.RunAsync(cancellationToken);
            }
        }
        catch (NbdProtocolException e)
        {
            logger.LogWarning("NBD {Peer}: protocol violation, closing connection: {Reason}", peer, e.Message);
            ServerMetrics.RecordNbdConnectionError("protocol");
        }
        catch (AuthenticationException e)
        {
            logger.LogWarning("NBD {Peer}: TLS handshake failed, closing connection: {Reason}", peer, e.Message);
            ServerMetrics.RecordNbdConnectionError("tls");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogDebug("NBD {Peer}: closed by server shutdown", peer);
        }
        catch (IOException e)
        {
            logger.LogDebug("NBD {Peer}: connection lost: {Reason}", peer, e.Message);
            ServerMetrics.RecordNbdConnectionError("lost");
        }
        catch (Exception e)
        {
            logger.LogError(e, "NBD {Peer}: unexpected failure, closing connection", peer);
            ServerMetrics.RecordNbdConnectionError("internal");
        }
        finally
        {
            logger.LogDebug("NBD {Peer}: disconnected", peer);
        }
    }

    private async Task<NbdExportSession?> NegotiateAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.HandshakeTimeout);
        try
        {
            return await new NbdServerHandshake(catalog, options, logger, transport, peer).NegotiateAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new NbdProtocolException($"no export chosen within {options.HandshakeTimeout.TotalSeconds:0.###} s");
        }
    }
}
