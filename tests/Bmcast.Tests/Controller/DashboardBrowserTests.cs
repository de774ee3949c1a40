using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bmcast.Tests.Machines;
using Bmcast.Tests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Bmcast.Tests.Controller;

/// <summary>
/// The dashboard in a real headless Chromium against a real controller: a wrong token is refused on the page (401) and
/// asked again; the right one shows the store's images; a bad target gets the API's error on the page and starts
/// nothing; the page starts a deployment of <c>tiny</c> (its image server
/// at an emulated 2 MiB/s) and follows it live to ready and pivoted, with the API's figures and a drawn chart; a
/// screenshot is saved as <c>.build/test-results/dashboard.png</c>; its Stop button stops it. The page fetches
/// nothing but the controller's own files and API, and logs no script error.
/// </summary>
public sealed class DashboardBrowserTests
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task The_page_signs_in_starts_tiny_follows_it_to_ready_and_pivoted_and_stops_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var chromium = await HeadlessChromium.LaunchAsync();
        using var dir = new TempDirectory();
        await using var rig = await ControllerRig.StartAsync(dir, await WriteTestGuest.BuildTinyAsync(dir), "tiny", "--rate", "2M");
        using var api = rig.Client();
        var page = await chromium.Browser.NewPageAsync(new() { ViewportSize = new() { Width = 1000, Height = 900 } });
        var problems = new List<string>();
        string origin = rig.BaseAddress.GetLeftPart(UriPartial.Authority);
        page.PageError += (_, error) => problems.Add("script error: " + error);
        page.Console += (_, message) =>
        {
            // Chromium logs each 4xx answer as "Failed to load resource": this test provokes a 401 and a 400 on purpose.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
                problems.Add("console error: " + message.Text);
        };
        page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith(origin, StringComparison.Ordinal))
                problems.Add("request outside the controller: " + request.Url);
        };

        await page.GotoAsync(rig.BaseAddress.ToString());
        await page.FillAsync("#token", "not-the-token-at-all");
        await page.ClickAsync("#sign-in");
        await Expect(page.Locator("#login-error")).ToContainTextAsync("401");
        await Expect(page.Locator("#main")).ToBeHiddenAsync();
        await page.FillAsync("#token", rig.Token);
        await page.ClickAsync("#sign-in");
        await Expect(page.Locator("#images tbody")).ToContainTextAsync("tiny");
        Assert.Equal(rig.Token, await page.EvaluateAsync<string>("sessionStorage.getItem('bmcast-token')"));

        await page.FillAsync("#deploy-target", "vm1.raw");
        await page.ClickAsync("#deploy-start");
        await Expect(page.Locator("#deploy-error")).ToContainTextAsync("'target' must be an absolute path");
        await Expect(page.Locator("article.deployment")).ToHaveCountAsync(0);

        await page.FillAsync("#deploy-target", dir.File("vm1.raw"));
        await page.FillAsync("#deploy-mode", "stay");
        await page.ClickAsync("#deploy-start");
        var card = page.Locator("article.deployment");
        await Expect(card).ToHaveCountAsync(1);
        string id = (await card.GetAttributeAsync("data-id"))!;
        rig.Adopt(await api.GetFromJsonAsync<JsonElement>($"/api/v1/deployments/{id}", ct));

        await Expect(card.Locator("[data-milestone=ready]")).ToBeVisibleAsync(new() { Timeout = (float)Boot.TotalMilliseconds });
        await Expect(card.Locator(".state")).ToHaveTextAsync("pivoted", new() { Timeout = (float)Boot.TotalMilliseconds });
        await Expect(card.Locator(".percent")).ToHaveTextAsync("100 %");
        await Expect(card.Locator("[data-milestone=pivoted]")).ToBeVisibleAsync();
        // The card's figures are the controller's view, which folds the events a moment after the stream carries them.
        await Expect(card.Locator(".ready-time")).ToHaveTextAsync(new Regex(@"^\d+\.\d\d s$"));
        var shown = await api.GetFromJsonAsync<JsonElement>($"/api/v1/deployments/{id}", ct);
        string readyText = await card.Locator(".ready-time").InnerTextAsync();
        Assert.Equal(shown.GetProperty("time_to_ready").GetDouble(), double.Parse(readyText[..^2], CultureInfo.InvariantCulture), 0.006);
        // The chart: two stacked areas (on demand, background) with a point per progress event, and the two marks.
        var areas = card.Locator(".chart polygon");
        Assert.Equal(2, await areas.CountAsync());
        Assert.True((await areas.Nth(1).GetAttributeAsync("points"))!.Split(' ').Length >= 6, "the background area has too few points");
        // (in either order: at this rate the copy may complete, and the guest pivot, before it is ready)
        Assert.Equal(["pivoted", "ready"], (await card.Locator(".chart text.mark-label").AllTextContentsAsync()).Order());
        await page.ScreenshotAsync(new() { Path = Repository.TestResult("dashboard.png"), FullPage = true });

        await card.Locator(".stop").ClickAsync();
        await Expect(card.Locator(".state")).ToHaveTextAsync(new Regex("^(stopping|stopped)$"));
        await Expect(card.Locator(".stop")).ToBeDisabledAsync();
        await Expect(card.Locator(".state")).ToHaveTextAsync("stopped", new() { Timeout = 120_000 });
        Assert.Equal("stopped", (await api.GetFromJsonAsync<JsonElement>($"/api/v1/deployments/{id}", ct)).GetProperty("state").GetString());
        Assert.Empty(problems);
    }
}
