using Xunit;

namespace Bmcast.Tests.Nbd;

/// <summary>Real NBD clients (libnbd's tools, QEMU) against our server, over loopback TCP and a unix socket.</summary>
public sealed class NbdServerPeerTests
{
    public static TheoryData<bool> Transports => new() { false, true };

    [Theory(Timeout = 30_000)]
    [MemberData(nameof(Transports))]
    public async Task Nbdinfo_describes_the_export(bool unixSocket)
    {
        ExternalTool.Require("nbdinfo");
        await using var env = await PeerEnvironment.StartAsync(unixSocket);

        string output = await ExternalTool.RunCheckedAsync("nbdinfo", env.Server.Uri("disk"));

        Assert.Contains($"export-size: {PeerEnvironment.ImageSize}", output);
        Assert.Contains("is_read_only: true", output);
        Assert.Contains("can_multi_conn: true", output);
        Assert.Contains("base:allocation", output);
        Assert.Contains("description: the source image", output);
    }

    [Theory(Timeout = 30_000)]
    [MemberData(nameof(Transports))]
    public async Task Nbdinfo_lists_exports_but_not_hidden_ones(bool unixSocket)
    {
        ExternalTool.Require("nbdinfo");
        await using var env = await PeerEnvironment.StartAsync(unixSocket);

        string output = await ExternalTool.RunCheckedAsync("nbdinfo", "--list", env.Server.Uri(""));

        Assert.Contains("export=\"disk\"", output);
        Assert.Contains("export=\"scratch\"", output);
        Assert.DoesNotContain("manifest:", output);
    }

    [Fact(Timeout = 30_000)]
    public async Task Nbdinfo_maps_holes_and_zeroes()
    {
        ExternalTool.Require("nbdinfo");
        await using var env = await PeerEnvironment.StartAsync(unixSocket: false);

        string output = await ExternalTool.RunCheckedAsync("nbdinfo", "--map", env.Server.Uri("sparse"));

        // Data at [0, 1 MiB) and [2 MiB, 2.5 MiB); holes that read as zero elsewhere.
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(f => (Offset: long.Parse(f[0]), Length: long.Parse(f[1]), Type: int.Parse(f[2])))
            .ToList();
        Assert.Equal([(0L, 1L << 20, 0), (1L << 20, 1L << 20, 3), (2L << 20, 512L << 10, 0), (5L << 19, 3L << 19, 3)], lines);
    }

    [Theory(Timeout = 30_000)]
    [MemberData(nameof(Transports))]
    public async Task Nbdcopy_copies_byte_identically_both_ways(bool unixSocket)
    {
        ExternalTool.Require("nbdcopy");
        await using var env = await PeerEnvironment.StartAsync(unixSocket);
        string copy = env.Directory.File("copy.raw");

        await ExternalTool.RunCheckedAsync("nbdcopy", env.Server.Uri("disk"), copy);
        Assert.Equal(env.Image, File.ReadAllBytes(copy));

        await ExternalTool.RunCheckedAsync("nbdcopy", env.ImagePath, env.Server.Uri("scratch"));
        Assert.Equal(env.Image, File.ReadAllBytes(env.ScratchPath));
    }

    [Theory(Timeout = 30_000)]
    [MemberData(nameof(Transports))]
    public async Task Qemu_img_converts_byte_identically(bool unixSocket)
    {
        ExternalTool.Require("qemu-img");
        await using var env = await PeerEnvironment.StartAsync(unixSocket);
        string copy = env.Directory.File("copy.raw");

        await ExternalTool.RunCheckedAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", env.Server.Uri("sparse"), copy);

        Assert.Equal(env.Image, File.ReadAllBytes(copy));
    }

    [Theory(Timeout = 30_000)]
    [MemberData(nameof(Transports))]
    public async Task Qemu_io_writes_zeroes_flushes_and_reads_back(bool unixSocket)
    {
        ExternalTool.Require("qemu-io");
        await using var env = await PeerEnvironment.StartAsync(unixSocket);

        string output = await ExternalTool.RunCheckedAsync("qemu-io", "-f", "raw",
            "-c", "write -P 0xab 0 64k",
            "-c", "write -f -P 0xcd 64k 64k",
            "-c", "write -z 32k 16k",
            "-c", "flush",
            "-c", "read -P 0xab 0 32k",
            "-c", "read -P 0 32k 16k",
            "-c", "read -P 0xab 48k 16k",
            "-c", "read -P 0xcd 64k 64k",
            env.Server.Uri("scratch"));

        Assert.DoesNotContain("fail", output, StringComparison.OrdinalIgnoreCase);
        var expected = new byte[128 << 10];
        expected.AsSpan(0, 64 << 10).Fill(0xab);
        expected.AsSpan(32 << 10, 16 << 10).Clear();
        expected.AsSpan(64 << 10).Fill(0xcd);
        Assert.Equal(expected, (File.ReadAllBytes(env.ScratchPath))[..expected.Length]);
    }

    [Fact(Timeout = 30_000)]
    public async Task Qemu_io_sees_a_read_only_export()
    {
        ExternalTool.Require("qemu-io");
        await using var env = await PeerEnvironment.StartAsync(unixSocket: false);

        var readWrite = await ExternalTool.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0xab 0 4k", env.Server.Uri("disk"));
        var readOnly = await ExternalTool.RunAsync("qemu-io", "-r", "-f", "raw", "-c", "write -P 0xab 0 4k", env.Server.Uri("disk"));

        Assert.NotEqual(0, readWrite.ExitCode);
        Assert.Contains("Permission denied", readWrite.Error);
        Assert.Contains("read-only", readOnly.Output + readOnly.Error);
        Assert.Equal(env.Image, File.ReadAllBytes(env.ImagePath));
    }
}
