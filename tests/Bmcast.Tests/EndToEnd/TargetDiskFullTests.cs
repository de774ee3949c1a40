using Bmcast.Core.Storage;
using Bmcast.Protocols.Nbd;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.TestKit.Mounts;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// The target's file system fills up under a running deployment (a tmpfs, filled with a ballast file
/// at a moment the test chooses): only the guest requests that need new space fail, with ENOSPC, while
/// the agent and the connection stay up; once space returns the deployment completes with every
/// acknowledged write in place. Needs root for the mount; CI runs ./test.sh as root.
/// </summary>
public sealed class TargetDiskFullTests
{
    private const int Block = 4096;
    private const int DataBytes = 8 << 20;
    private const int ImageBytes = 12 << 20;   // 8 MiB of data, then 4 MiB of zeroes the manifest marks as zero chunks
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Only_requests_needing_space_fail_on_a_full_target_and_the_deployment_completes_when_space_returns()
    {
        if (!Environment.IsPrivilegedProcess)
            Assert.Skip("needs root to mount a size-limited tmpfs; CI runs ./test.sh as root");
        using var scratch = new Bmcast.Tests.Support.TempDirectory();
        var image = new byte[ImageBytes];
        new Random(5).NextBytes(image.AsSpan(0, DataBytes));
        string imagePath = scratch.File("image.raw");
        await File.WriteAllBytesAsync(imagePath, image, Ct);
        await using var rig = await DeploymentRig.StartAsync(imagePath, "disk");
        await using var disk = await TmpfsMount.MountAsync(rig.Directory.File("disk"), 64 << 20, Ct);
        string target = Path.Combine(disk.Directory, "target.raw");
        string export = rig.Directory.File("agent.sock");
        // Slow enough that the copy is far from done when the disk fills: 8 MiB at 2 MiB/s.
        var agent = await rig.StartAgentAsync("disk", target, export, "--bandwidth", "2M");
        await using var client = await NbdClient.ConnectAsync(NbdUri.Create(NbdEndpoint.Unix(export), ""), Ct);

        // Written while there is room: a block in the zero region (allocated by this write) and one in the data.
        const long zeroRegionBlock = 9L << 20, dataBlock = (1L << 20) + Block, neverWritten = 10L << 20;
        await client.WriteAsync(zeroRegionBlock, Pattern(0xa1, 16 * Block), false, Ct);
        await client.WriteAsync(dataBlock, Pattern(0xb1, 2 * Block), false, Ct);
        await client.FlushAsync(Ct);

        string ballast = Path.Combine(disk.Directory, "ballast");
        FillUp(ballast);

        // Already allocated: rewriting, reading and flushing need no space and keep working.
        await client.WriteAsync(zeroRegionBlock, Pattern(0xa2, 16 * Block), true, Ct);
        await AssertReadsAsync(client, zeroRegionBlock, Pattern(0xa2, 16 * Block));
        await AssertReadsAsync(client, dataBlock, Pattern(0xb1, 2 * Block));
        await client.FlushAsync(Ct);
        // A new block needs space: that write alone fails, with ENOSPC.
        var refused = await Assert.ThrowsAsync<BlockDeviceException>(() => client.WriteAsync(neverWritten, Pattern(0xc1, Block), false, Ct).AsTask());
        Assert.Equal((int)NbdError.NoSpc, refused.Errno);
        // A block the copy has not reached needs space for copy-on-read: it fails with ENOSPC, or had arrived already.
        long lastDataBlock = DataBytes - Block;
        try
        {
            await AssertReadsAsync(client, lastDataBlock, image.AsMemory((int)lastDataBlock, Block));
        }
        catch (BlockDeviceException e)
        {
            Assert.Equal((int)NbdError.NoSpc, e.Errno);
        }
        Assert.False(agent.HasExited, $"the agent died on the full disk:\n{agent.Stderr}");

        File.Delete(ballast);
        await client.WriteAsync(neverWritten, Pattern(0xc2, Block), false, Ct);
        await client.FlushAsync(Ct);
        await agent.WaitForEventAsync("complete", Long);
        await client.DisposeAsync();
        Assert.Equal(0, await agent.StopAsync(TimeSpan.FromSeconds(30)));

        Pattern(0xa2, 16 * Block).CopyTo(image.AsMemory((int)zeroRegionBlock));
        Pattern(0xb1, 2 * Block).CopyTo(image.AsMemory((int)dataBlock));
        Pattern(0xc2, Block).CopyTo(image.AsMemory((int)neverWritten));
        byte[] actual = await File.ReadAllBytesAsync(target, Ct);
        Assert.True(image.AsSpan().SequenceEqual(actual), "target differs from the image with the guest's writes applied");
    }

    /// <summary>Write a file until the file system refuses: it is full from then on.</summary>
    private static void FillUp(string path)
    {
        var buffer = new byte[1 << 20];
        Array.Fill(buffer, (byte)1);
        using var ballast = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        for (long at = 0; ; at += buffer.Length)
        {
            try
            {
                RandomAccess.Write(ballast, buffer, at);
            }
            catch (IOException)
            {
                return;
            }
        }
    }

    private static async Task AssertReadsAsync(NbdClient client, long offset, ReadOnlyMemory<byte> expected)
    {
        var actual = new byte[expected.Length];
        await client.ReadAsync(offset, actual, Ct);
        Assert.True(expected.Span.SequenceEqual(actual), $"read at {offset} returned other bytes");
    }

    private static byte[] Pattern(byte seed, int length)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++)
            data[i] = (byte)(seed + i * 13);
        return data;
    }
}
