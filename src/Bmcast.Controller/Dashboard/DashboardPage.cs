using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.FileProviders;

namespace Bmcast.Controller.Dashboard;

/// <summary>
/// The web dashboard at <c>/</c>: a few static files (<c>wwwroot/</c>: page, script, styles, icon) embedded in this assembly, so the controller
/// needs no build step, no files beside it and no network to serve it. The page needs no token to load; it asks for
/// the token and sends it with its own API calls, which the bearer check guards as any other.
/// </summary>
public static class DashboardPage
{
    /// <summary>The resources' names: <c>Bmcast.Controller.Dashboard.FILE</c> (see the project file).</summary>
    private const string ResourcePrefix = "Bmcast.Controller.Dashboard";

    // Scripts, styles and API calls from this origin only; no inline script, so text the page shows (image names,
    // error messages) cannot become code even if a bug put it into the document as markup.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    public static void UseDashboard(this WebApplication app)
    {
        var files = new EmbeddedFileProvider(typeof(DashboardPage).Assembly, ResourcePrefix);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            OnPrepareResponse = context =>
            {
                var headers = context.Context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.CacheControl = "no-cache"; // revalidated (ETag): a newer controller's page is never stale
            },
        });
    }
}
