using System.Text;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Protocols.Nbd.Client;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Streaming;

/// <summary>
/// Offers the boot profile a deployment recorded to the <c>bmcast serve</c> it streamed from, over the same NBD
/// endpoint (and TLS) as the image: written to the hidden export <c>learn-profile:NAME</c>, then FLUSH, which the
/// server answers once it has checked and kept it (or has ignored it: the image has one). NBD is the one channel an
/// agent already has to its server, authenticated as the image is; the server validates and keeps the first profile
/// alone, so an agent can at worst suggest a chunk order, never change data. Only offered to a server that published
/// the image's signed manifest (a foreign server would answer the export name with the image itself) and no profile.
/// </summary>
public static class BootProfileOffer
{
    public static async Task OfferAsync(NbdUri image, NbdClientTls? tls, IReadOnlyList<long> chunks, ILogger log, CancellationToken ct)
    {
        if (chunks.Count == 0)
            return;
        byte[] bytes = Encoding.UTF8.GetBytes(BootProfile.Format(chunks));
        try
        {
            await using var client = await NbdClient.ConnectAsync(image.ForExport(ExportNames.LearnProfileOf(image.ExportName)), tls, ct);
            if (bytes.Length > client.Size)
            {
                log.LogInformation("the boot profile ({Bytes} bytes) is larger than the image server takes ({Size}): not offered", bytes.Length, client.Size);
                return;
            }
            await client.WriteAsync(0, bytes, cancellationToken: ct);
            await client.FlushAsync(ct);
            log.LogInformation("offered the boot profile ({Count} chunks) to the image server for later deployments", chunks.Count);
        }
        catch (NbdOptionRefusedException)
        {
            log.LogInformation("the image server takes no boot profile for {Image} (it has one, or learning is off)", image.ExportName);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            log.LogWarning("the boot profile could not be offered to the image server: {Error}", e.Message);
        }
    }
}
