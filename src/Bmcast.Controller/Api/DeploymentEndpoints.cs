using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Bmcast.Controller.Deployments;
using Bmcast.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Bmcast.Controller.Api;

/// <summary>
/// <c>/api/v1/deployments</c>: start (POST), list, show, stop (DELETE) deployments, and follow one's events as
/// Server-Sent Events.
/// </summary>
public static class DeploymentEndpoints
{
    private static readonly TimeSpan EventPoll = TimeSpan.FromMilliseconds(250);

    /// <param name="deployArguments">The <c>bmcast deploy</c> command line for a deployment.</param>
    public static void MapDeployments(this RouteGroupBuilder api, IImageStore store, string? targetsDirectory,
        DeploymentSupervisor deployments, Func<Deployment, IReadOnlyList<string>> deployArguments)
    {
        api.MapPost("/deployments", async (HttpRequest http) =>
            {
                DeploymentRequest? request;
                try
                {
                    request = await JsonSerializer.DeserializeAsync<DeploymentRequest>(http.Body, ControllerJson.Options, http.HttpContext.RequestAborted);
                }
                catch (JsonException e)
                {
                    return ApiError.Result(StatusCodes.Status400BadRequest, "malformed JSON: " + e.Message);
                }
                if (request is null)
                    return ApiError.Result(StatusCodes.Status400BadRequest, "expected a JSON object");
                if (DeploymentRequestCheck.Problem(request, store, targetsDirectory, deployments) is { } problem)
                    return ApiError.Result(problem.Status, problem.Message);
                var d = deployments.Start(id => new Deployment
                {
                    Id = id,
                    Image = request.Image!,
                    Target = Path.GetFullPath(request.Target!),
                    GuestMode = request.GuestMode,
                    Memory = request.Memory ?? "1G",
                    Disk = request.Disk ?? "virtio",
                    Created = DateTimeOffset.UtcNow,
                }, deployArguments);
                return Results.Json(DeploymentView.Of(d), ControllerJson.Options, statusCode: StatusCodes.Status201Created);
            })
            .Accepts<DeploymentRequest>("application/json")
            .Produces<DeploymentView>(StatusCodes.Status201Created)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status409Conflict)
            .WithSummary("Deploy an image onto a target: a machine boots from it at once while it streams");

        api.MapGet("/deployments", () => TypedResults.Ok(deployments.All.Select(DeploymentView.Of).ToList()))
            .WithSummary("Every deployment, oldest first");

        api.MapGet("/deployments/{id}", IResult (string id) => deployments.Find(id) is { } d
                ? TypedResults.Ok(DeploymentView.Of(d))
                : NotFound(id))
            .Produces<DeploymentView>()
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .WithSummary("One deployment");

        api.MapDelete("/deployments/{id}", IResult (string id) =>
            {
                if (deployments.Find(id) is not { } d)
                    return NotFound(id);
                return deployments.Stop(d)
                    ? TypedResults.Accepted($"/api/v1/deployments/{id}", DeploymentView.Of(d))
                    : ApiError.Result(StatusCodes.Status409Conflict, $"deployment {id} already ended ({d.State.ToString().ToLowerInvariant()})");
            })
            .Produces<DeploymentView>(StatusCodes.Status202Accepted)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .Produces<ApiError>(StatusCodes.Status409Conflict)
            .WithSummary("Stop a deployment cleanly: the guest is asked to power off, the copy's state is kept");

        api.MapGet("/deployments/{id}/events", IResult (string id, CancellationToken ct) => deployments.Find(id) is { } d
                ? TypedResults.ServerSentEvents(Events(d, deployments.Files(d), ct))
                : NotFound(id))
            .WithSummary("Server-Sent Events: the deploy's events from the start (named as bmcast deploy --json names them), "
                + "and a 'state' event with the deployment whenever it changes; ends when the deployment has ended");
    }

    private static IResult NotFound(string id) => ApiError.Result(StatusCodes.Status404NotFound, $"no deployment '{id}'");

    private static async IAsyncEnumerable<SseItem<string>> Events(Deployment d, DeploymentFiles files, [EnumeratorCancellation] CancellationToken ct)
    {
        var log = new EventLogReader(files.Events);
        string? lastState = null;
        while (!ct.IsCancellationRequested)
        {
            var view = DeploymentView.Of(d);
            foreach (string line in log.ReadNew())
                yield return new SseItem<string>(line, EventName(line));
            string state = JsonSerializer.Serialize(view, ControllerJson.Options);
            if (state != lastState)
                yield return new SseItem<string>(lastState = state, "state");
            if (view.State.IsTerminal())
                yield break;
            try
            {
                await Task.Delay(EventPoll, ct);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    private static string EventName(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.TryGetProperty("event", out var name) ? name.GetString() ?? "message" : "message";
        }
        catch (JsonException)
        {
            return "message";
        }
    }
}
