using Bmcast.Agent.ImageBuild;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.OsImages;

/// <summary>
/// The cache key of a sample image covers exactly the recipe files it reads: a change elsewhere must not
/// throw away a build that took minutes, and a change it depends on must rebuild.
/// </summary>
public sealed class RecipeHashTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly RecipeDirectory _recipes;

    public RecipeHashTests()
    {
        foreach (string file in new[] { "lib.sh", "tiny.sh", "tiny-payload.sh", "debian.sh", "debian-db.sh", "guest/bmcast-guest", "tiny/init",
                     "debian/bmcast-guest.service", "debian-db/sysbench.conf", "README.md" })
            Write(file, file);
        _recipes = RecipeDirectory.At(_dir.Path);
    }

    public void Dispose() => _dir.Dispose();

    // tiny-payload is built from tiny's build: whatever changes tiny changes it too.
    [Theory]
    [InlineData("lib.sh", true, true, true, true)]
    [InlineData("guest/bmcast-guest", true, true, true, true)]
    [InlineData("tiny.sh", true, true, false, false)]
    [InlineData("tiny/init", true, true, false, false)]
    [InlineData("tiny-payload.sh", false, true, false, false)]
    [InlineData("debian.sh", false, false, true, false)]
    [InlineData("debian/bmcast-guest.service", false, false, true, true)]
    [InlineData("debian-db.sh", false, false, false, true)]
    [InlineData("debian-db/sysbench.conf", false, false, false, true)]
    [InlineData("README.md", false, false, false, false)]
    public void Editing_a_file_changes_the_hash_of_the_images_that_read_it(string file, bool tiny, bool tinyPayload, bool debian, bool debianDb)
    {
        var before = RecipeDirectory.Names.ToDictionary(name => name, _recipes.HashOf);
        Write(file, "edited");
        Assert.Equal(tiny, before["tiny"] != _recipes.HashOf("tiny"));
        Assert.Equal(tinyPayload, before["tiny-payload"] != _recipes.HashOf("tiny-payload"));
        Assert.Equal(debian, before["debian"] != _recipes.HashOf("debian"));
        Assert.Equal(debianDb, before["debian-db"] != _recipes.HashOf("debian-db"));
    }

    [Fact]
    public void The_hash_is_stable_and_distinct_per_image()
    {
        Assert.Equal(_recipes.HashOf("tiny"), RecipeDirectory.At(_dir.Path).HashOf("tiny"));
        Assert.Equal(RecipeDirectory.Names.Count, RecipeDirectory.Names.Select(_recipes.HashOf).Distinct().Count());
    }

    private void Write(string file, string content)
    {
        string path = _dir.File(file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }
}
