using Bmcast.Controller.Deployments;
using Bmcast.Images;

namespace Bmcast.Controller.Api;

/// <summary>An image of the store, as <c>GET /api/v1/images</c> lists it.</summary>
/// <param name="Size">The disk's size in bytes.</param>
/// <param name="DataBytes">Bytes of its non-zero chunks: what a deployment really fetches.</param>
public sealed record ImageView(string Name, long Size, long DataBytes, int ChunkSize, string RootHash, string KeyFingerprint, DateTimeOffset Created)
{
    public static ImageView Of(ImageInfo i) => new(i.Name, i.Size, i.StoredBytes, i.ChunkSize, i.RootHash, i.KeyFingerprint, i.Created);
}

/// <summary>The body of <c>POST /api/v1/deployments</c>.</summary>
/// <param name="Target">Absolute path of the local target file (created sparse when missing).</param>
/// <param name="GuestMode">Passed to the guest (images/README.md), e.g. <c>stay</c>.</param>
/// <param name="Memory">Guest memory, e.g. <c>1G</c> (at least 64M).</param>
/// <param name="Disk"><c>virtio</c> (default) or <c>nvme</c>.</param>
public sealed record DeploymentRequest(string? Image, string? Target, string? GuestMode, string? Memory, string? Disk);

/// <summary>A deployment as the API shows it.</summary>
/// <param name="TimeToReady">Seconds from the deploy's start to the guest's ready marker.</param>
/// <param name="OnDemandBytes">Fetched because the guest waited for them.</param>
/// <param name="BackgroundBytes">Fetched by the background copy.</param>
public sealed record DeploymentView(
    string Id, string Image, string Target, string? GuestMode, string Memory, string Disk, DeploymentState State,
    DateTimeOffset Created, int? Pid, double? TimeToReady, long TotalBytes, long PresentBytes, double PercentPresent,
    long OnDemandBytes, long BackgroundBytes, string? Error)
{
    public static DeploymentView Of(Deployment d)
    {
        lock (d)
            return new(d.Id, d.Image, d.Target, d.GuestMode, d.Memory, d.Disk, d.State, d.Created, d.Pid, d.TimeToReadySeconds,
                d.TotalBytes, d.PresentBytes, d.PercentPresent, d.OnDemandBytes, d.BackgroundBytes, d.Error);
    }
}
