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

    /// <summary>Issue 15: a qcow2 cut to its first 1000 bytes imported as a signed all-zero image.</summary>
    [Fact]
    public async Task A_qcow2_cut_to_1000_bytes_is_refused()
    {
        var raw = new SparseImage(_temp.PathFor("disk.raw"), Size).Data(0, 70_000);
        string whole = _temp.PathFor("whole.qcow2");
        RunQemuImg("convert", "-f", "raw", "-O", "qcow2", raw.Path, whole);
        string cut = _temp.PathFor("cut.qcow2");
        File.WriteAllBytes(cut, File.ReadAllBytes(whole)[..1000]);

        var error = await Assert.ThrowsAsync<ImageStoreException>(() => _temp.ImportAsync(cut, "disk", format: DiskImageFormat.Auto));
        Assert.Contains("damaged qcow2 image", error.Message);
        Assert.False(_temp.Store.Exists("disk"));
    }

    /// <summary>Formats whose <c>qemu-img check</c> misses truncation (vdi) or fails on it: the data map must lie within the file.</summary>
    [Theory]
    [InlineData("vdi")]
    [InlineData("vmdk")]
    [InlineData("vhdx")]
    public async Task A_file_cut_in_half_is_refused(string format)
    {
        var raw = new SparseImage(_temp.PathFor("disk.raw"), Size).Data(0, 2 << 20);
        string whole = _temp.PathFor("whole." + format);
        RunQemuImg("convert", "-f", "raw", "-O", format, raw.Path, whole);
        string cut = _temp.PathFor("cut." + format);
        var bytes = File.ReadAllBytes(whole);
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);

        var error = await Assert.ThrowsAsync<ImageStoreException>(() => _temp.ImportAsync(cut, "disk", format: DiskImageFormat.Auto));
        Assert.Matches("damaged|truncated", error.Message);
        Assert.False(_temp.Store.Exists("disk"));
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
