using Bmcast.Core.Manifests;
using Bmcast.Core.Storage;
using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

public sealed class StoreExportCatalogTests : IDisposable
{
    private readonly TempStore _temp = new();
    private readonly StoreExportCatalog _catalog;

    public StoreExportCatalogTests() => _catalog = new StoreExportCatalog(_temp.Store);

    public void Dispose() => _temp.Dispose();

    private async Task<ImportResult> ImportAsync(string name) =>
        await _temp.ImportAsync(new SparseImage(_temp.PathFor(name + ".raw"), 1 << 20).Data(0, 5000).Path, name);

    [Fact]
    public async Task Lists_every_image_with_size_and_root_prefix()
    {
        var a = await ImportAsync("a");
        await ImportAsync("b");

        var listing = _catalog.List();

        Assert.Equal(["a", "b"], listing.Select(l => l.Name));
        Assert.Equal($"1 MiB, root {a.Image.RootHash[..12]}", listing[0].Description);
    }

    [Fact]
    public async Task Opens_an_image_and_its_hidden_manifest_export()
    {
        var a = await ImportAsync("a");
        var ct = TestContext.Current.CancellationToken;

        await using var image = await _catalog.OpenAsync("a", ct);
        await using var manifestDevice = await _catalog.OpenAsync(ExportNames.ManifestOf("a"), ct);

        Assert.Equal(1 << 20, image!.Size);
        var encoded = new byte[manifestDevice!.Size];
        await manifestDevice.ReadAsync(0, encoded, ct);
        Assert.Equal(_temp.Store.ReadEncodedManifest("a"), encoded);
        var manifest = Manifest.Decode(encoded);
        Assert.Equal(a.Image.RootHash, manifest.RootHashHex);
        Assert.True(manifest.HasValidSignature());
        Assert.Equal(BlockDeviceCapabilities.MultiConnection, manifestDevice.Capabilities);
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("manifest:nope")]
    [InlineData("manifest:")]
    [InlineData("../a")]
    [InlineData("")]
    public async Task Unknown_or_invalid_names_open_nothing(string name)
    {
        await ImportAsync("a");
        Assert.Null(await _catalog.OpenAsync(name, TestContext.Current.CancellationToken));
    }
}
