using Bmcast.Controller.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Bmcast.Controller.Auth;

/// <summary>
/// Everything under <c>/api</c> needs <c>Authorization: Bearer TOKEN</c>; a missing or wrong token is a 401 with a
/// JSON error. <c>/metrics</c>, <c>/openapi/v1.json</c> and the dashboard page are open (the page asks for the token
/// and sends it with its own API calls).
/// </summary>
public static class BearerTokenCheck
{
    public static void UseBearerToken(this WebApplication app, ApiToken token) => app.Use(async (context, next) =>
    {
        if (context.Request.Path.StartsWithSegments("/api") && !token.Accepts(context.Request.Headers.Authorization))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiError.Result(StatusCodes.Status401Unauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN; see DATA/token)")
                .ExecuteAsync(context);
            return;
        }
        await next(context);
    });
}
