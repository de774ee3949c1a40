using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Bmcast.Agent.Metrics;

/// <summary>
/// <c>--metrics HOST:PORT</c>: a small HTTP listener (Kestrel) that serves only <c>GET /metrics</c> for Prometheus, beside
/// a serve, stream or deploy. Started before the work, so a busy port fails the command at once with a clear error.
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MeterProvider _provider;

    private MetricsEndpoint(WebApplication app, MeterProvider provider, Uri url)
    {
        _app = app;
        _provider = provider;
        Url = url;
    }

    /// <summary>Where Prometheus scrapes, e.g. <c>http://127.0.0.1:9464/metrics</c> (the port bound, when 0 was asked).</summary>
    public Uri Url { get; }

    /// <param name="listen">HOST:PORT, as given to <paramref name="option"/> (named in errors).</param>
    public static async Task<MetricsEndpoint> StartAsync(string listen, string option, CancellationToken ct)
    {
        var endpoint = ListenAddress.Parse(listen, option);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(endpoint));
        var app = builder.Build();
        var provider = PrometheusExport.CreateProvider();
        app.MapMetrics(provider);
        try
        {
            await app.StartAsync(ct);
        }
        catch (Exception e)
        {
            await app.DisposeAsync();
            provider.Dispose();
            if (e is IOException)
                throw new IOException($"{option} {listen}: cannot listen there ({e.Message}): is the port in use?", e);
            throw;
        }
        string bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new MetricsEndpoint(app, provider, new Uri(new Uri(bound), "/metrics"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _provider.Dispose();
    }
}
