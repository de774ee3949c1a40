using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// Commands that only read the store never create one, and a <c>--store</c> that is a file is one clear error line
/// (issue 15: <c>image ls --store /nonexistent/dir</c> created an empty store; <c>--store /etc/passwd</c> printed only
/// "The file '/etc/passwd' already exists.").
/// </summary>
public sealed class StoreOpeningTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("bmcast-test-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    [Theory]
    [InlineData("ls")]
    [InlineData("inspect", "x")]
    [InlineData("verify", "x")]
    [InlineData("manifest", "x", "--output", "m")]
    [InlineData("rm", "x")]
    [InlineData("gc")]
    public async Task A_command_on_a_missing_store_says_so_and_creates_nothing(params string[] command)
    {
        string store = Path.Combine(_scratch, "nonexistent", "dir");
        var outcome = await CliRunner.RunAsync(["image", .. command, "--store", store]);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains($"no image store at {store}", outcome.Error);
        Assert.False(Directory.Exists(Path.Combine(_scratch, "nonexistent")));
    }

    [Theory]
    [InlineData("ls")]
    [InlineData("import")]
    public async Task A_store_that_is_a_file_is_one_clear_error(string command)
    {
        string file = Path.Combine(_scratch, "passwd");
        await File.WriteAllTextAsync(file, "root:x:0:0::/root:/bin/sh\n", TestContext.Current.CancellationToken);
        string[] arguments = command == "import" ? ["image", "import", file, "--name", "x", "--store", file] : ["image", "ls", "--store", file];

        var outcome = await CliRunner.RunAsync(arguments);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains($"{file} is a file, not an image store directory", outcome.Error);
        Assert.Equal("root:x:0:0::/root:/bin/sh\n", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken));
    }
}
