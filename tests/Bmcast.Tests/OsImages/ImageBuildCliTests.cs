using Bmcast.Tests.Images;

namespace Bmcast.Tests.OsImages;

/// <summary><c>bmcast image build</c> refuses bad invocations before running any recipe.</summary>
public sealed class ImageBuildCliTests
{
    [Fact]
    public async Task An_unknown_image_is_refused()
    {
        var outcome = await CliRunner.RunAsync("image", "build", "windows");
        Assert.NotEqual(0, outcome.ExitCode);
        Assert.Contains("windows", outcome.Error);
    }

    [Fact]
    public async Task A_store_name_without_import_is_refused()
    {
        var outcome = await CliRunner.RunAsync("image", "build", "tiny", "--name", "x");
        Assert.NotEqual(0, outcome.ExitCode);
        Assert.Contains("--name needs --import", outcome.Error);
    }
}
