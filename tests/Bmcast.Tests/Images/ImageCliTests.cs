using System.Text.Json;
using Xunit;

namespace Bmcast.Tests.Images;

public sealed class ImageCliTests : IDisposable
{
    private readonly TempStore _temp = new();
    private readonly string _file;

    public ImageCliTests() =>
        _file = new SparseImage(_temp.PathFor("disk.raw"), 1 << 20).Data(0, 100_000).Zeros(300_000, 65536).Path;

    public void Dispose() => _temp.Dispose();

    private Task<CliRunner.Outcome> RunAsync(params string[] args) =>
        CliRunner.RunAsync([.. args, "--store", _temp.Store.Root]);

    private static JsonElement Parse(CliRunner.Outcome outcome)
    {
        Assert.True(outcome.ExitCode == 0, outcome.Error);
        return JsonDocument.Parse(outcome.Output).RootElement;
    }

    [Fact]
    public async Task Import_ls_and_inspect_print_json()
    {
        var imported = Parse(await RunAsync("image", "import", _file, "--name", "disk", "--chunk-size", "16K", "--json"));
        Assert.Equal(64, imported.GetProperty("image").GetProperty("chunkCount").GetInt64());

        var list = Parse(await RunAsync("image", "ls", "--json"));
        var entry = Assert.Single(list.EnumerateArray());
        Assert.Equal("disk", entry.GetProperty("name").GetString());
        Assert.Equal(1 << 20, entry.GetProperty("size").GetInt64());
        Assert.Equal(16384, entry.GetProperty("chunkSize").GetInt32());
        Assert.Equal(57, entry.GetProperty("zeroChunkCount").GetInt64()); // 100 000 bytes of data: 7 chunks

        var details = Parse(await RunAsync("image", "inspect", "disk", "--json"));
        Assert.True(details.GetProperty("signatureValid").GetBoolean());
        Assert.True(details.GetProperty("signedByStoreKey").GetBoolean());
        Assert.Equal(_temp.Store.KeyFingerprint, details.GetProperty("image").GetProperty("keyFingerprint").GetString());
        Assert.Equal("manifest:disk", details.GetProperty("manifestExportName").GetString());
    }

    [Fact]
    public async Task Human_listing_shows_a_table_row()
    {
        await RunAsync("image", "import", _file, "--name", "disk", "--format", "raw");
        var outcome = await RunAsync("image", "ls");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("disk", outcome.Output);
        Assert.Contains(_temp.Store.GetInfo("disk").RootHashPrefix, outcome.Output);
    }

    [Fact]
    public async Task Failures_are_one_line_on_stderr_with_exit_code_one()
    {
        await RunAsync("image", "import", _file, "--name", "disk");

        var again = await RunAsync("image", "import", _file, "--name", "disk");
        var missing = await RunAsync("image", "inspect", "nope");

        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Error);
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("bmcast: no image named 'nope' in the store", missing.Error.Trim());
    }

    [Fact]
    public async Task Verify_exits_two_and_names_the_damaged_chunk()
    {
        await RunAsync("image", "import", _file, "--name", "disk");
        Assert.Equal(0, (await RunAsync("image", "verify", "disk")).ExitCode);
        var stored = StoreSurgery.FlipByte(_temp.Store, _temp.Store.ReadManifest("disk").ChunkHash(1), 0);

        var outcome = await RunAsync("image", "verify", "disk", "--json");

        Assert.Equal(2, outcome.ExitCode);
        var bad = Assert.Single(JsonDocument.Parse(outcome.Output).RootElement.GetProperty("badChunks").EnumerateArray());
        Assert.Equal(1, bad.GetProperty("chunk").GetInt64());
        Assert.Equal(stored.Path, bad.GetProperty("path").GetString());
        Assert.Equal(stored.Offset, bad.GetProperty("fileOffset").GetInt64());
    }

    [Fact]
    public async Task Rm_removes_and_reports_the_collection()
    {
        await RunAsync("image", "import", _file, "--name", "disk");
        var removed = Parse(await RunAsync("image", "rm", "disk", "--grace", "0s", "--json"));
        Assert.Equal("disk", removed.GetProperty("removed").GetString());
        Assert.Equal(2, removed.GetProperty("garbage").GetProperty("chunksRemoved").GetInt64());
        Assert.Empty(Parse(await RunAsync("image", "ls", "--json")).EnumerateArray());
    }
}
