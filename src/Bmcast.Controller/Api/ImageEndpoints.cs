using Bmcast.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Bmcast.Controller.Api;

/// <summary><c>GET /api/v1/images</c> and <c>GET /api/v1/images/{name}</c>: the store the controller serves.</summary>
public static class ImageEndpoints
{
    public static void MapImages(this RouteGroupBuilder api, IImageStore store)
    {
        api.MapGet("/images", () => TypedResults.Ok(store.List().Select(ImageView.Of).ToList()))
            .WithSummary("Every image of the store");
        api.MapGet("/images/{name}", IResult (string name) => store.Exists(name)
                ? TypedResults.Ok(ImageView.Of(store.GetInfo(name)))
                : ApiError.Result(StatusCodes.Status404NotFound, $"no image named '{name}'"))
            .Produces<ImageView>()
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .WithSummary("One image");
    }
}
