using Microsoft.AspNetCore.Http;

namespace Bmcast.Controller.Api;

/// <summary>Every error the API answers: <c>{"error": TEXT}</c> with its status, never a stack trace.</summary>
public sealed record ApiError(string Error)
{
    public static IResult Result(int status, string message) => Results.Json(new ApiError(message), ControllerJson.Options, statusCode: status);
}
