using System.Net.Http.Json;
using System.Text.Json;
using Bmcast.Tests.Controller;
using Bmcast.Tests.Images;
using Bmcast.Tests.Nbd;
using Bmcast.Tests.Support;

namespace Bmcast.Tests.ObjectStore;

/// <summary>
/// <c>bmcast controller</c> on a bucket of a real Ceph RGW: its API lists the bucket's images and its own image server
/// (the one its deployments stream from) serves them; its state stays in a local directory, which a bucket store makes
/// the operator name.
/// </summary>
public sealed class ObjectStoreControllerTests(SharedCephRgw ceph) : IClassFixture<SharedCephRgw>, IDisposable
{
    private readonly TempDirectory _scratch = new();

    [Fact]
    public async Task A_controller_on_a_bucket_lists_its_images_and_serves_them_to_its_deployments()
    {
        var ct = TestContext.Current.CancellationToken;
        ExternalTool.Require("nbdcopy");
        var rgw = await ceph.StartAsync();
        string store = $"s3://{SharedCephRgw.NewBucket()}/{SharedCephRgw.Prefix}";
        var environment = SharedCephRgw.Environment(rgw, _scratch.File("home")).Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v[1]);
        var image = new SparseImage(_scratch.File("disk.raw"), 4L << 20, seed: 9).Data(0, 1 << 20).Data(3 << 20, 1 << 19);
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(3), environment, "image", "import", image.Path, "--name", "disk", "--store", store);
        Assert.True(code == 0, $"import failed: {error}");

        await using var rig = await ControllerRig.StartOnStoreAsync(_scratch, store, environment);
        using var api = rig.Client();
        var listed = Assert.Single((await api.GetFromJsonAsync<JsonElement>("/api/v1/images", ct)).EnumerateArray());
        Assert.Equal("disk", listed.GetProperty("name").GetString());
        Assert.Equal(4L << 20, listed.GetProperty("size").GetInt64());

        string copy = _scratch.File("copy.raw");
        await ExternalTool.RunCheckedAsync(TimeSpan.FromMinutes(2), "nbdcopy", $"nbd+unix:///disk?socket={Path.Combine(rig.Data, "serve.sock")}", copy);
        Assert.True(File.ReadAllBytes(copy).AsSpan().SequenceEqual(image.Content), "the controller's image server served other bytes than the bucket's image");
    }

    [Fact]
    public async Task A_controller_on_a_bucket_without_a_data_directory_is_refused_with_the_reason()
    {
        var (code, _, error) = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1),
            "controller", "--listen", "127.0.0.1:0", "--store", $"s3://{SharedCephRgw.NewBucket()}");
        Assert.Equal(1, code);
        Assert.Contains("--data is required with a bucket store", error);
    }

    public void Dispose() => _scratch.Dispose();
}
