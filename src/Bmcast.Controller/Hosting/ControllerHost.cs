using Bmcast.Agent.Metrics;
using Bmcast.Agent.Serving;
using Bmcast.Controller.Api;
using Bmcast.Controller.Auth;
using Bmcast.Controller.Dashboard;
using Bmcast.Controller.Deployments;
using Bmcast.Images;
using Bmcast.Protocols.Nbd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bmcast.Controller.Hosting;

/// <summary>
/// <c>bmcast controller</c>: its own image server for the store on a private unix socket (<c>DATA/serve.sock</c>),
/// the deployments (<see cref="DeploymentSupervisor"/>, state in <c>DATA/controller.db</c>), and the HTTP service:
/// the REST API under <c>/api/v1</c> (bearer token), its OpenAPI document, Prometheus metrics and the web dashboard at
/// <c>/</c>, all on Kestrel.
/// </summary>
public static class ControllerHost
{
    /// <summary>Run until <paramref name="ct"/> is cancelled. <paramref name="output"/> gets the token (once) and the address.</summary>
    public static async Task RunAsync(ControllerOptions options, ILoggerFactory logging, TextWriter output, CancellationToken ct)
    {
        Directory.CreateDirectory(options.Data);
        string data = Path.GetFullPath(options.Data);
        using var dataLock = LockData(data);
        var token = ApiToken.Load(options.TokenFile, data);
        if (token.Generated is { } generated)
            output.WriteLine($"API token (kept in {Path.Combine(data, "token")}, shown only now): {generated}");
        var store = ImageStores.Open(options.Store, log: logging.CreateLogger("bmcast.store"));
        string socket = Path.Combine(data, "serve.sock");
        if (socket.Length > 107)
            throw new ArgumentException($"--data {data} is too long a path for the image server's socket (at most 107 bytes): choose a shorter one");
        File.Delete(socket); // left by a controller that was killed (the lock says none runs)
        // Listening before the image server starts, so /metrics counts all it serves.
        using var metrics = PrometheusExport.CreateProvider();
        await using var server = new ImageServerHost(store, new ImageServerOptions
        {
            Nbd = NbdEndpoint.Parse("unix:" + socket),
            LinkBytesPerSecond = options.LinkBytesPerSecond,
        }, logging);
        await server.StartAsync(ct);
        await using var deployments = new DeploymentSupervisor(new DeploymentDatabase(Path.Combine(data, "controller.db")), data, logging.CreateLogger("bmcast.controller"));

        using var deploymentMetrics = new DeploymentMetrics(deployments);

        var app = Build(options, logging);
        app.UseBearerToken(token);
        app.UseDashboard();
        var api = app.MapGroup("/api/v1");
        api.MapImages(store);
        api.MapDeployments(store, options.TargetsDirectory, deployments, d => DeployArguments(options, d, socket, data));
        app.MapOpenApi();
        app.MapMetrics(metrics);
        await app.StartAsync(ct);
        foreach (string address in app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses)
            output.WriteLine($"listening on {address}");
        output.Flush();
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    /// <summary>One controller per data directory: a second would take over the first's socket and deployments.</summary>
    private static FileStream LockData(string data)
    {
        try
        {
            // FileShare.None is an exclusive flock on Linux, released when the process ends, however it ends.
            return new FileStream(Path.Combine(data, "controller.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"another controller uses {data} ({e.Message})", e);
        }
    }

    private static WebApplication Build(ControllerOptions options, ILoggerFactory logging)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(logging);
        builder.Services.Configure<JsonOptions>(json => ControllerJson.Configure(json.SerializerOptions));
        builder.Services.AddOpenApi();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(ListenAddress.Parse(options.Listen, "--listen")));
        var app = builder.Build();
        // Anything unexpected is logged with its stack trace here and answered as a JSON error without one.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = context => ApiError.Result(StatusCodes.Status500InternalServerError,
                "internal error: " + context.Features.Get<IExceptionHandlerFeature>()?.Error.Message).ExecuteAsync(context),
        });
        app.UseStatusCodePages(context => context.HttpContext.Response.HasStarted
            ? Task.CompletedTask
            : ApiError.Result(context.HttpContext.Response.StatusCode, $"{context.HttpContext.Request.Method} {context.HttpContext.Request.Path}: "
                + ReasonPhrases.GetReasonPhrase(context.HttpContext.Response.StatusCode).ToLowerInvariant()).ExecuteAsync(context.HttpContext));
        return app;
    }

    /// <summary>
    /// The deploy process of a deployment: from the controller's image server, trusting the key it first sees there
    /// (kept in <c>DATA/known_keys</c>), with the deployment's machine settings.
    /// </summary>
    private static List<string> DeployArguments(ControllerOptions options, Deployment d, string socket, string data)
    {
        List<string> arguments =
        [
            .. options.DeployCommand, "deploy", "--source", $"nbd+unix:///{d.Image}?socket={socket}", "--target", d.Target,
            "--known-keys", Path.Combine(data, "known_keys"), "--memory", d.Memory, "--disk", d.Disk, "--json",
        ];
        if (d.GuestMode is not null)
            arguments.AddRange(["--guest-mode", d.GuestMode]);
        return arguments;
    }
}
