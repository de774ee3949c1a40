using Bmcast.Core.Storage;
using Bmcast.Images;
using Bmcast.Protocols.Aoe;
using Bmcast.Protocols.Nbd.Server;
using Microsoft.Extensions.Logging;

namespace Bmcast.Agent.Serving;

/// <summary>
/// An image server: every image of a store (and its signed manifest and boot profile) as an NBD export and/or an AoE
/// shelf.slot, optionally behind an emulated link. <c>bmcast serve</c> runs one until stopped; the demo starts one
/// beside its deployments. Disposing stops whatever it started.
/// </summary>
public sealed class ImageServerHost(IImageStore store, ImageServerOptions options, ILoggerFactory logging) : IAsyncDisposable
{
    private readonly ILogger _log = logging.CreateLogger("bmcast.serve");
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _servers = [];

    /// <summary>
    /// Listen on NBD and open the AoE target, then return: clients may connect. A failure to start is thrown here,
    /// and what did start is stopped by <see cref="DisposeAsync"/>.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (options.Nbd is null && options.AoeInterface is null)
            throw new ArgumentException("an image server needs an NBD endpoint, an AoE interface or both");
        IExportCatalog catalog = new StoreExportCatalog(store);
        if (options.LearnProfiles)
            catalog = new ProfileLearningCatalog(catalog, store, _log);
        if (options.LinkBytesPerSecond is { } bytesPerSecond)
        {
            catalog = new LinkLimitedCatalog(catalog, new LinkEmulator(bytesPerSecond));
            _log.LogInformation("emulating a {Rate}/s link shared by all clients", ByteSize.Format(bytesPerSecond));
        }
        if (options.Nbd is { } endpoint)
        {
            var server = new NbdServer(catalog, logging.CreateLogger<NbdServer>(), options.NbdOptions);
            try
            {
                await server.StartAsync(endpoint, ct);
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
            _log.LogInformation("serving {Count} images from {Store} on {Endpoint}", store.List().Count, store.Location, endpoint);
            if (options.NbdOptions.Tls is { } tls)
                _log.LogInformation("NBD requires TLS{Clients}", tls.ClientAuthorities is null ? "" : " and a client certificate");
            _servers.Add(ServeUntilStoppedAsync(server, _stop.Token));
        }
        if (options.AoeInterface is { } interfaceName)
        {
            // Images imported before slots were recorded get theirs now, for good.
            store.AssignMissingAoeSlots();
            var channel = PacketSocketChannel.Open(interfaceName, logging.CreateLogger<AoeTarget>());
            try
            {
                var target = await AoeTarget.CreateAsync(channel, catalog, options.AoeOptions, logging.CreateLogger<AoeTarget>(), ct);
                _servers.Add(ServeUntilStoppedAsync(channel, target, _stop.Token));
            }
            catch
            {
                channel.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Start, then serve until <paramref name="ct"/> is cancelled (then <see cref="OperationCanceledException"/>) or a
    /// server fails: a failed AoE target ends the run rather than leaving NBD serving alone, and the other way round.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        await StartAsync(ct);
        await using (ct.Register(_stop.Cancel))
        {
            await await Task.WhenAny(_servers);
            await Task.WhenAll(_servers);
        }
        ct.ThrowIfCancellationRequested(); // servers end quietly when stopped: say so
    }

    private static async Task ServeUntilStoppedAsync(NbdServer server, CancellationToken stop)
    {
        await using (server)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private static async Task ServeUntilStoppedAsync(PacketSocketChannel channel, AoeTarget target, CancellationToken stop)
    {
        using (channel)
        await using (target)
            await target.RunAsync(stop);
    }

    /// <summary>Stop every server (closing their connections) and wait for them; a server's failure was the run's to report.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var server in _servers)
        {
            try
            {
                await server;
            }
            catch (Exception e)
            {
                _log.LogDebug("a server ended with {Error} while stopping", e.Message);
            }
        }
        _stop.Dispose();
    }
}
