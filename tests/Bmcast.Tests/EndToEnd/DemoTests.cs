using Bmcast.Tests.Support;

namespace Bmcast.Tests.EndToEnd;

/// <summary>The README's quick start, as a new user runs it: <c>bmcast demo</c> succeeds and cleans up.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task Quick_start_demo_streams_under_a_client_and_checks_its_result()
    {
        var before = Directory.GetDirectories(Path.GetTempPath(), "bmcast-demo-*").ToHashSet();
        var (code, output, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(5), "demo", "--size", "512M", "--bandwidth", "64M");
        Assert.True(code == 0, $"bmcast demo failed ({code}):\n{output}\n{error}");
        Assert.Contains("target = image + client's write", output);
        Assert.Contains("clean", output);
        var left = Directory.GetDirectories(Path.GetTempPath(), "bmcast-demo-*").Where(d => !before.Contains(d));
        Assert.Empty(left);
    }
}
