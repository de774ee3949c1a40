using System.Text;
using Bmcast.Agent.Streaming;
using Bmcast.Core.Storage;
using Bmcast.Engine;
using Bmcast.Protocols.Nbd.Client;
using Bmcast.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bmcast.Tests.EndToEnd;

/// <summary>
/// Learned boot profiles: <c>bmcast serve</c> keeps the first valid profile an agent offers on <c>learn-profile:NAME</c>
/// (checked against the manifest, write-once, later offers ignored), publishes it as <c>profile:NAME</c>, and takes
/// none with <c>--no-learn-profiles</c>.
/// </summary>
public sealed class LearnedBootProfileTests
{
    [Fact]
    public async Task The_first_valid_offer_is_kept_and_published_and_later_ones_are_ignored()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rig = await StartAsync();
        var image = NbdUri.Parse(rig.SourceUri("disk"));

        // 64 chunks: chunk 99 does not exist. Refused with EINVAL, and nothing is kept.
        await using (var offer = await NbdClient.ConnectAsync(image.ForExport(ExportNames.LearnProfileOf("disk")), ct))
        {
            await offer.WriteAsync(0, Encoding.UTF8.GetBytes("# bmcast boot profile v1\n99\n"), cancellationToken: ct);
            var refused = await Assert.ThrowsAsync<BlockDeviceException>(async () => await offer.FlushAsync(ct));
            Assert.Equal(BlockDeviceException.EINVAL, refused.Errno);
        }
        await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ReadExportAsync(image.ForExport(ExportNames.ProfileOf("disk")), 1 << 20, ct));

        await BootProfileOffer.OfferAsync(image, null, [40, 7, 12], NullLogger.Instance, ct);
        Assert.Equal(BootProfile.Format([40, 7, 12]), await PublishedAsync(image, ct));
        Assert.Contains("learned the boot profile of disk from a deployment: 3 chunks", rig.Server.Stderr);

        // Write-once: a later offer finds no export and changes nothing.
        await BootProfileOffer.OfferAsync(image, null, [1, 2], NullLogger.Instance, ct);
        await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ConnectAsync(image.ForExport(ExportNames.LearnProfileOf("disk")), ct));
        Assert.Equal(BootProfile.Format([40, 7, 12]), await PublishedAsync(image, ct));
        Assert.Contains("a boot profile offered for disk is not taken: it has one", rig.Server.Stderr);

        // The operator still replaces it.
        await File.WriteAllTextAsync(rig.Directory.File("operator-profile"), BootProfile.Format([5]), ct);
        var kept = await BmcastProcess.RunAsync(TimeSpan.FromMinutes(1), "image", "profile", "disk", "--from", rig.Directory.File("operator-profile"), "--store", rig.Store);
        Assert.True(kept.ExitCode == 0, kept.Error);
        Assert.Equal(BootProfile.Format([5]), await PublishedAsync(image, ct));
    }

    [Fact]
    public async Task A_server_told_not_to_learn_takes_no_profile()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var rig = await StartAsync("--no-learn-profiles");
        var image = NbdUri.Parse(rig.SourceUri("disk"));
        await BootProfileOffer.OfferAsync(image, null, [40, 7, 12], NullLogger.Instance, ct);
        await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ConnectAsync(image.ForExport(ExportNames.LearnProfileOf("disk")), ct));
        await Assert.ThrowsAsync<NbdOptionRefusedException>(() => NbdClient.ReadExportAsync(image.ForExport(ExportNames.ProfileOf("disk")), 1 << 20, ct));
    }

    private static async Task<DeploymentRig> StartAsync(params string[] serveOptions)
    {
        var image = new byte[4 << 20];
        new Random(5).NextBytes(image);
        string path = Path.Combine(Path.GetTempPath(), $"bmcast-learn-{Environment.ProcessId}-{Guid.NewGuid():N}.raw");
        await File.WriteAllBytesAsync(path, image);
        try
        {
            return await DeploymentRig.StartAsync(path, "disk", serveOptions);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<string> PublishedAsync(NbdUri image, CancellationToken ct) =>
        Encoding.UTF8.GetString(await NbdClient.ReadExportAsync(image.ForExport(ExportNames.ProfileOf("disk")), 1 << 20, ct));
}
