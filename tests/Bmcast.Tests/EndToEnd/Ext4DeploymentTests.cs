using System.Text.RegularExpressions;
using Bmcast.Tests.Nbd;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// The whole data plane on a real file system: a sparse multi-GiB image holding ext4 with files is
/// imported, served, and streamed while clients read all of it and write into a file's data blocks;
/// once complete, the target equals the image with the write applied and e2fsck finds it clean.
/// </summary>
public sealed partial class Ext4DeploymentTests
{
    private const long ImageSize = 3L << 30;
    private static readonly TimeSpan BigCopy = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Sparse_ext4_image_streams_to_a_clean_target_with_the_clients_writes()
    {
        var ct = TestContext.Current.CancellationToken;
        string mkfs = ExternalTool.Require("mkfs.ext4");
        ExternalTool.Require("e2fsck");
        ExternalTool.Require("nbdcopy");
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        string tree = Directory.CreateDirectory(scratch.File("tree")).FullName;
        var random = new Random(5);
        for (int i = 0; i < 40; i++)
        {
            var content = new byte[random.Next(1, 3 << 20)];
            random.NextBytes(content);
            await File.WriteAllBytesAsync(Path.Combine(tree, $"file{i:00}.bin"), content, ct);
        }
        string image = scratch.File("ext4.raw");
        using (var file = File.Create(image))
            file.SetLength(ImageSize);
        await ExternalTool.RunCheckedAsync(mkfs, "-q", "-F", "-b", "4096", "-d", tree, image);

        // Where file07's first data block lives: the client will overwrite it, keeping metadata intact.
        string bmap = await ExternalTool.RunCheckedAsync("debugfs", "-R", "bmap /file07.bin 0", image);
        long block = long.Parse(FirstNumber().Match(bmap).Value);
        long writeOffset = block * 4096;

        await using var rig = await DeploymentRig.StartAsync(image, "ext4");
        string map = await ExternalTool.RunCheckedAsync("nbdinfo", "--map", rig.SourceUri("ext4"));
        Assert.Contains("hole,zero", map);
        // What the server serves is the image, byte for byte, to two independent clients.
        await ExternalTool.RunCheckedAsync(BigCopy, "qemu-img", "convert", "-f", "raw", "-O", "raw", rig.SourceUri("ext4"), scratch.File("qemu-img-copy.raw"));
        await AssertSameContentAsync(image, scratch.File("qemu-img-copy.raw"));
        await ExternalTool.RunCheckedAsync(BigCopy, "nbdcopy", rig.SourceUri("ext4"), scratch.File("nbdcopy-copy.raw"));
        await AssertSameContentAsync(image, scratch.File("nbdcopy-copy.raw"));

        string target = rig.Directory.File("target.raw");
        string export = rig.Directory.File("agent.sock");
        string exportUri = $"nbd+unix:///?socket={export}";
        var agent = await rig.StartAgentAsync("ext4", target, export);
        var reader = ExternalTool.RunCheckedAsync(BigCopy, "nbdcopy", exportUri, rig.Directory.File("read-back.raw"));
        await ExternalTool.RunCheckedAsync("qemu-io", "-f", "raw", "-c", $"write -P 0x5a {writeOffset} 4096", "-c", "flush", exportUri);
        await reader;
        await agent.WaitForEventAsync("complete", TimeSpan.FromMinutes(5));
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));

        await ApplyWriteAsync(image, writeOffset, 4096, 0x5a);
        await AssertSameContentAsync(image, target);
        await ExternalTool.RunCheckedAsync(BigCopy, "e2fsck", "-fn", target);
        string head = await ExternalTool.RunCheckedAsync("debugfs", "-R", "cat /file07.bin", target);
        Assert.StartsWith(new string('Z', 64), head);
    }

    private static async Task ApplyWriteAsync(string path, long offset, int length, byte value)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Position = offset;
        await file.WriteAsync(Enumerable.Repeat(value, length).ToArray());
    }

    private static async Task AssertSameContentAsync(string expected, string actual)
    {
        // Gigabytes, mostly holes: minutes only on a machine that is very busy.
        var result = await ExternalTool.RunAsync(TimeSpan.FromMinutes(5), "cmp", expected, actual);
        Assert.True(result.ExitCode == 0, $"{actual} differs from {expected}: {result.Output}{result.Error}");
    }

    [GeneratedRegex(@"\d+")]
    private static partial Regex FirstNumber();
}
