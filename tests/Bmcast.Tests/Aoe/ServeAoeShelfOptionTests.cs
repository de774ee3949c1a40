namespace Bmcast.Tests.Aoe;

/// <summary><c>bmcast serve --aoe</c> refuses companion shelves that would clash, with a line that says what to give.</summary>
public sealed class ServeAoeShelfOptionTests
{
    [Theory]
    [InlineData(new[] { "--aoe-shelf", "0", "--aoe-manifest-shelf", "2" }, "--aoe-manifest-shelf 2 is where boot profiles go by default: give --aoe-profile-shelf too")]
    [InlineData(new[] { "--aoe-shelf", "65534" }, "--aoe-shelf 65534 leaves no shelf 65535 below 65535 (broadcast): give --aoe-manifest-shelf")]
    public async Task Clashing_shelves_are_refused_before_anything_is_served(string[] shelves, string error)
    {
        using var dir = new Bmcast.Tests.Support.TempDirectory();

        var (code, _, stderr) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), ["serve", "--aoe", "lo", "--store", dir.File("store"), .. shelves]);

        Assert.Equal(1, code);
        Assert.Contains(error, stderr);
    }
}
