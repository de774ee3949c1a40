using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Bmcast.Tests.Controller;

/// <summary>
/// The controller's API edge against the real service on loopback: the token (generated, mode 0600, printed once),
/// 401s, the open OpenAPI document, the image listing, and bad input answered with a 4xx JSON error and nothing started; a second controller on the same data refused.
/// </summary>
public sealed class ControllerApiTests
{
    [Fact]
    public async Task Api_needs_the_token_lists_images_and_refuses_bad_input_without_starting_anything()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new Bmcast.Tests.Support.TempDirectory();
        string image = dir.File("small.raw");
        await using (var file = File.Create(image))
        {
            file.SetLength(4 << 20);
            file.Write(Encoding.ASCII.GetBytes(new string('x', 70000)));
        }
        System.IO.Directory.CreateDirectory(dir.File("targets"));
        await using var rig = await ControllerRig.StartAsync(dir, image, "small", "--targets-dir", dir.File("targets"));

        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(rig.Data, "token")));
        Assert.Contains(rig.Token, rig.Output, StringComparison.Ordinal);

        using var anonymous = rig.Client(token: "");
        using var wrong = rig.Client(token: "not-the-token-at-all");
        foreach (var client in new[] { anonymous, wrong })
        {
            var refused = await client.GetAsync("/api/v1/images", ct);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("bearer token", (await refused.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        var openApi = await anonymous.GetFromJsonAsync<JsonElement>("/openapi/v1.json", ct);
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/api/v1/deployments/{id}/events", out _));

        using var api = rig.Client();
        var images = await api.GetFromJsonAsync<JsonElement>("/api/v1/images", ct);
        var small = Assert.Single(images.EnumerateArray());
        Assert.Equal("small", small.GetProperty("name").GetString());
        Assert.Equal(4 << 20, small.GetProperty("size").GetInt64());
        Assert.Equal(2 * 65536, small.GetProperty("data_bytes").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync("/api/v1/images/nope", ct)).StatusCode);

        string inside = dir.File("targets/t.raw");
        (string Body, HttpStatusCode Status, string Error)[] bad =
        [
            ("{not json", HttpStatusCode.BadRequest, "malformed JSON"),
            ("[1]", HttpStatusCode.BadRequest, "malformed JSON"),
            ($$"""{"image":"nope","target":"{{inside}}"}""", HttpStatusCode.BadRequest, "no image named 'nope'"),
            ("""{"image":"small","target":"relative.raw"}""", HttpStatusCode.BadRequest, "absolute path"),
            ($$"""{"image":"small","target":"{{dir.File("outside.raw")}}"}""", HttpStatusCode.BadRequest, "outside the targets directory"),
            ($$"""{"image":"small","target":"{{dir.File("targets/no/such/dir.raw")}}"}""", HttpStatusCode.BadRequest, "does not exist"),
            ($$"""{"image":"small","target":"{{inside}}","memory":"1K"}""", HttpStatusCode.BadRequest, "'memory'"),
            ($$"""{"image":"small","target":"{{inside}}","disk":"floppy"}""", HttpStatusCode.BadRequest, "'disk'"),
            ($$"""{"image":"small","target":"{{inside}}","guest_mode":"rm -rf"}""", HttpStatusCode.BadRequest, "'guest_mode'"),
        ];
        foreach (var (body, status, error) in bad)
        {
            var response = await api.PostAsync("/api/v1/deployments", new StringContent(body, Encoding.UTF8, "application/json"), ct);
            Assert.True(status == response.StatusCode, $"{body}: {(int)response.StatusCode}");
            Assert.Contains(error, (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("error").GetString(), StringComparison.Ordinal);
        }
        Assert.Empty((await api.GetFromJsonAsync<JsonElement>("/api/v1/deployments", ct)).EnumerateArray());
        Assert.False(File.Exists(inside));
        var missing = await api.DeleteAsync("/api/v1/deployments/0123456789ab", ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no deployment", await missing.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);

        var (code, _, refusal) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "controller", "--listen", "127.0.0.1:0", "--store", rig.Store, "--data", rig.Data);
        Assert.Equal(1, code);
        Assert.Contains("another controller uses", refusal, StringComparison.Ordinal);
    }
}
