using System.Diagnostics;
using Bmcast.Images;
using Xunit;

namespace Bmcast.Tests.Images;

/// <summary>Non-raw formats go through the real qemu-img; skipped where it is not installed.</summary>
public sealed class QemuImportTests : IDisposable
{
    private const long Size = 3L << 20; // sector aligned, as these formats require
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("qcow2")]
    [InlineData("vmdk")]
    [InlineData("vhdx")]
    [InlineData("vdi")]
    public async Task Converted_import_equals_the_raw_content(string format)
    {
        var raw = new SparseImage(_temp.PathFor("disk.raw"), Size).Data(0, 70_000).Data(2L << 20, 4096).Zeros(1L << 20, 65536);
        string converted = _temp.PathFor("disk." + format);
        RunQemuImg("convert", "-f", "raw", "-O", format, raw.Path, converted);

        var result = await _temp.ImportAsync(converted, "disk", format: DiskImageFormat.Auto);

        Assert.Equal(format, result.Image.SourceFormat);
        Assert.Equal(Size, result.Image.Size);
        await using var device = _temp.Store.OpenDevice("disk");
        var content = new byte[Size];
        await device.ReadAsync(0, content, TestContext.Current.CancellationToken);
        Assert.True(content.AsSpan().SequenceEqual(raw.Content));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_temp.Store.Root, "tmp")));

        // The raw file imports to the very same manifest body: same root hash.
        var direct = await _temp.ImportAsync(raw.Path, "direct");
        Assert.Equal(direct.Image.RootHash, result.Image.RootHash);
        Assert.Equal(0, direct.NewChunks);
    }

    [Fact]
    public async Task A_format_the_store_does_not_take_is_refused()
    {
        var raw = new SparseImage(_temp.PathFor("disk.raw"), Size).Data(0, 4096);
        string vpc = _temp.PathFor("disk.vpc");
        RunQemuImg("convert", "-f", "raw", "-O", "vpc", raw.Path, vpc);

        var error = await Assert.ThrowsAsync<ImageStoreException>(() => _temp.ImportAsync(vpc, "disk", format: DiskImageFormat.Auto));
        Assert.Contains("not supported", error.Message);
    }

    private static void RunQemuImg(params string[] arguments)
    {
        var start = new ProcessStartInfo(QemuImg.Executable) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Skip($"qemu-img is not installed ({e.Message}); install qemu-utils to run this test");
            return;
        }
        using (process)
        {
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, process.StandardError.ReadToEnd());
        }
    }
}
