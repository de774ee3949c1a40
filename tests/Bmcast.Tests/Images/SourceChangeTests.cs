using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>
/// A source file written to while it is imported is refused, not stored as a mix of two versions; an import records
/// where its data came from (path, format, size, modification time, when imported), and <c>image inspect</c> shows it.
/// </summary>
public sealed class SourceChangeTests : IDisposable
{
    private const long Size = 8L << 20;
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_file_modified_mid_import_is_refused(bool grow)
    {
        var image = new SparseImage(_temp.PathFor("disk.raw"), Size).Data(0, (int)Size);
        bool modified = false;
        void Modify(ImportProgress progress)
        {
            if (modified || progress.Phase != ImportPhase.Chunking)
                return;
            modified = true;
            using var file = new FileStream(image.Path, FileMode.Open, FileAccess.Write);
            file.Seek(grow ? Size : Size - 4096, SeekOrigin.Begin);
            file.Write(new byte[4096]);
        }

        var error = await Assert.ThrowsAsync<ImageStoreException>(() => new ImageImporter(_temp.Store).ImportAsync(
            image.Path, new ImportOptions("disk"), Modify, TestContext.Current.CancellationToken));

        Assert.True(modified);
        Assert.Contains("changed while it was imported", error.Message);
        Assert.Contains(grow ? "size went from" : "written to", error.Message);
        Assert.False(_temp.Store.Exists("disk"));
    }

    [Fact]
    public async Task Import_records_the_source_and_inspect_shows_it()
    {
        var image = new SparseImage(_temp.PathFor("disk.raw"), 1 << 20).Data(0, 4096);
        var modified = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        File.SetLastWriteTimeUtc(image.Path, modified.UtcDateTime);

        var result = await _temp.ImportAsync(image.Path, "disk");
        Assert.Equal(1 << 20, result.Image.SourceSize);
        Assert.Equal(modified, result.Image.SourceModified);
        Assert.Equal(modified, _temp.Store.GetInfo("disk").SourceModified); // kept in image.json

        var inspect = await CliRunner.RunAsync("image", "inspect", "disk", "--store", _temp.Store.Root, "--json");
        Assert.Equal(0, inspect.ExitCode);
        using var json = System.Text.Json.JsonDocument.Parse(inspect.Output);
        var shown = json.RootElement.GetProperty("image");
        Assert.Equal(image.Path, shown.GetProperty("sourceFile").GetString());
        Assert.Equal("raw", shown.GetProperty("sourceFormat").GetString());
        Assert.Equal(1 << 20, shown.GetProperty("sourceSize").GetInt64());
        Assert.Equal(modified, shown.GetProperty("sourceModified").GetDateTimeOffset());
        Assert.True(shown.TryGetProperty("created", out _)); // when it was imported
    }
}
