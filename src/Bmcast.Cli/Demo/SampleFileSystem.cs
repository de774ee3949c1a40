using System.Text.RegularExpressions;

namespace Bmcast.Cli.Demo;

/// <summary>
/// A generated disk image for the demo: a sparse file holding an ext4 file system with a few
/// hundred MiB of files, built without mounting anything (<c>mkfs.ext4 -d</c>).
/// </summary>
internal static partial class SampleFileSystem
{
    public static async Task<string> BuildAsync(string directory, long size, int files, CancellationToken ct)
    {
        string tree = Directory.CreateDirectory(Path.Combine(directory, "tree")).FullName;
        var random = new Random(2015);
        var content = new byte[4 << 20];
        for (int i = 0; i < files; i++)
        {
            random.NextBytes(content);
            await File.WriteAllBytesAsync(Path.Combine(tree, $"file{i:000}.bin"), content.AsMemory(0, random.Next(1 << 20, content.Length)), ct);
        }
        string image = Path.Combine(directory, "sample.raw");
        using (var file = File.Create(image))
            file.SetLength(size);
        await AptPackages.RunAsync(AptPackages.Which("mkfs.ext4")!, $"-q -F -b 4096 -d {tree} {image}", ct);
        Directory.Delete(tree, recursive: true);
        return image;
    }

    /// <summary>Byte offset of the first data block of <paramref name="file"/> (e.g. <c>/file007.bin</c>) inside the image.</summary>
    public static async Task<long> FirstDataBlockOffsetAsync(string image, string file, CancellationToken ct)
    {
        string output = await AptPackages.RunAsync(AptPackages.Which("debugfs")!, $"-R \"bmap {file} 0\" {image}", ct);
        return long.Parse(Number().Match(output).Value) * 4096;
    }

    [GeneratedRegex(@"\d+")]
    private static partial Regex Number();
}
