using System.Text.Json.Nodes;
using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>Every image keeps the AoE slot it was published with, whatever else is imported or removed.</summary>
public sealed class AoeSlotAssignmentTests : IDisposable
{
    private const int Chunk = 4096;
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Images_get_slots_in_the_order_they_are_published_not_by_name()
    {
        var zulu = await ImportAsync("zulu", seed: 1);
        var alpha = await ImportAsync("alpha", seed: 2);

        Assert.Equal(0, zulu.AoeSlot);
        Assert.Equal(1, alpha.AoeSlot);
        Assert.Equal(0, _temp.Store.GetInfo("zulu").AoeSlot);
        Assert.Equal(1, _temp.Store.GetInfo("alpha").AoeSlot);
    }

    [Fact]
    public async Task Replacing_an_image_keeps_its_slot()
    {
        await ImportAsync("one", seed: 1);
        await ImportAsync("two", seed: 2);

        var replaced = await ImportAsync("one", seed: 3, force: true);

        Assert.Equal(0, replaced.AoeSlot);
        Assert.Equal(1, _temp.Store.GetInfo("two").AoeSlot);
    }

    [Fact]
    public async Task A_removed_images_slot_is_not_handed_to_the_next_import()
    {
        await ImportAsync("one", seed: 1);
        await ImportAsync("two", seed: 2);
        _temp.Store.Remove("two", RemovalGrace.Default);

        var three = await ImportAsync("three", seed: 3);

        Assert.Equal(1, three.AoeSlot); // the highest in use is 0 again: 1 is next, and nobody reads it any more
        _temp.Store.Remove("one", RemovalGrace.Default);
        Assert.Equal(2, (await ImportAsync("four", seed: 4)).AoeSlot); // 0 is free, but 2 comes after 1
    }

    [Fact]
    public async Task When_the_last_slot_is_taken_the_lowest_free_one_is_used()
    {
        await ImportAsync("one", seed: 1);
        await ImportAsync("two", seed: 2);
        SetSlot("two", ImageStore.AoeSlotCount - 1);
        _temp.Store.Remove("one", RemovalGrace.Default);

        Assert.Equal(0, (await ImportAsync("three", seed: 3)).AoeSlot);
        Assert.Equal(1, (await ImportAsync("four", seed: 4)).AoeSlot);
    }

    [Fact]
    public async Task Images_published_before_slots_existed_get_them_in_name_order_and_keep_them()
    {
        await ImportAsync("charlie", seed: 1);
        await ImportAsync("bravo", seed: 2);
        SetSlot("charlie", null);
        SetSlot("bravo", null);

        _temp.Store.AssignMissingAoeSlots();

        Assert.Equal(0, _temp.Store.GetInfo("bravo").AoeSlot);
        Assert.Equal(1, _temp.Store.GetInfo("charlie").AoeSlot);
        Assert.Equal(2, (await ImportAsync("alpha", seed: 3)).AoeSlot);
        Assert.Equal(0, _temp.Store.GetInfo("bravo").AoeSlot);
    }

    [Fact]
    public async Task Assigning_missing_slots_while_such_an_image_is_removed_leaves_it_out_instead_of_failing()
    {
        var ct = TestContext.Current.CancellationToken;
        await ImportAsync("kept", seed: 1);
        SetSlot("kept", null);
        // bmcast serve --aoe assigns missing slots as it starts while `image rm` may be taking such an image away: the
        // listing saw it, then its info could not be written, and serve died of it.
        for (int round = 0; round < 100; round++)
        {
            await ImportAsync("churned", seed: 2);
            SetSlot("churned", null);
            using var start = new Barrier(2);
            var removal = Task.Run(() =>
            {
                start.SignalAndWait(ct);
                _temp.Store.Remove("churned", TimeSpan.Zero);
            }, ct);
            start.SignalAndWait(ct);
            _temp.Store.AssignMissingAoeSlots();
            await removal;
            Assert.False(_temp.Store.Exists("churned"));
        }
        Assert.NotNull(_temp.Store.GetInfo("kept").AoeSlot);
    }

    [Fact]
    public async Task Concurrent_imports_never_share_a_slot()
    {
        var infos = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => ImportAsync($"image{i}", seed: i)));

        Assert.Equal(Enumerable.Range(0, 6), infos.Select(i => i.AoeSlot!.Value).Order());
    }

    private async Task<ImageInfo> ImportAsync(string name, int seed, bool force = false)
    {
        var image = new SparseImage(_temp.PathFor(name + seed + ".raw"), 4 * Chunk, seed).Data(0, 4 * Chunk);
        var result = await new ImageImporter(_temp.Store).ImportAsync(image.Path,
            new ImportOptions(name, Chunk, DiskImageFormat.Raw, Force: force), cancellationToken: TestContext.Current.CancellationToken);
        return result.Image;
    }

    /// <summary>Rewrite an image's recorded slot, as an older store (null) or a full shelf would have it.</summary>
    private void SetSlot(string name, int? slot)
    {
        string path = Path.Combine(_temp.Store.Root, "images", name, "image.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json.Remove("aoeSlot");
        if (slot is not null)
            json["aoeSlot"] = slot;
        File.WriteAllText(path, json.ToJsonString());
    }
}
