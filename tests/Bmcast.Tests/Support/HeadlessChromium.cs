using Microsoft.Playwright;

namespace Bmcast.Tests.Support;

/// <summary>
/// Debian's Chromium (package <c>chromium</c>, which <c>./test.sh</c> installs), driven headless by Playwright for .NET:
/// no browser download, the real binary (<c>/usr/bin/chromium</c> is a wrapper script that adds flags and starts
/// twice as slowly), no sandbox (CI runs as root, where Chromium's sandbox refuses to start). Playwright's driver
/// (node, bundled in the package) comes with the test's build output in <c>.playwright/</c>.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    public const string Executable = "/usr/lib/chromium/chromium";

    private readonly IPlaywright _playwright;

    private HeadlessChromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    /// <summary>Start the browser, or skip the test when Chromium is not installed (saying why).</summary>
    public static async Task<HeadlessChromium> LaunchAsync()
    {
        if (!File.Exists(Executable))
            Assert.Skip($"{Executable} is missing: Debian's chromium package is not installed here "
                + "(./test.sh installs it and prints why when it cannot: apt-get install chromium)");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Executable, Headless = true, Args = ["--no-sandbox"] });
            return new HeadlessChromium(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}
