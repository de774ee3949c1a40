using System.Text.RegularExpressions;
using Bmcast.Controller.Deployments;
using Bmcast.Images;
using Microsoft.AspNetCore.Http;

namespace Bmcast.Controller.Api;

/// <summary>
/// Validates a deployment request at the edge, before anything starts: the image exists, the target is an absolute
/// path in an existing directory (under <c>--targets-dir</c> when given) that no running deployment uses, and the
/// machine settings are ones <c>bmcast deploy</c> accepts. Returns the status and error to answer (409 for a target in use, else 400), or null.
/// </summary>
public static partial class DeploymentRequestCheck
{
    [GeneratedRegex("^[a-z0-9-]{1,64}$")]
    private static partial Regex GuestMode { get; }

    public static (int Status, string Message)? Problem(DeploymentRequest r, IImageStore store, string? targetsDirectory, DeploymentSupervisor deployments)
    {
        if (string.IsNullOrEmpty(r.Image))
            return Bad("'image' is required");
        if (!store.Exists(r.Image))
            return Bad($"no image named '{r.Image}'");
        if (string.IsNullOrEmpty(r.Target) || !Path.IsPathFullyQualified(r.Target))
            return Bad("'target' must be an absolute path");
        string target = Path.GetFullPath(r.Target);
        if (targetsDirectory is not null && !target.StartsWith(Path.GetFullPath(targetsDirectory).TrimEnd('/') + "/", StringComparison.Ordinal))
            return Bad($"target {target} is outside the targets directory {targetsDirectory}");
        if (Directory.Exists(target))
            return Bad($"target {target} is a directory");
        if (!Directory.Exists(Path.GetDirectoryName(target)))
            return Bad($"the directory of target {target} does not exist");
        if (deployments.Using(target) is { } other)
            return (StatusCodes.Status409Conflict, $"target {target} is in use by deployment {other.Id}");
        if (r.GuestMode is not null && !GuestMode.IsMatch(r.GuestMode))
            return Bad("'guest_mode' must be of a-z, 0-9 and -");
        if (r.Memory is not null && (!ByteSize.TryParse(r.Memory, out long memory) || memory < 64 << 20))
            return Bad("'memory' must be a size of at least 64M, e.g. 1G");
        if (r.Disk is not null and not ("virtio" or "nvme"))
            return Bad("'disk' must be virtio or nvme");
        return null;
    }

    private static (int, string) Bad(string message) => (StatusCodes.Status400BadRequest, message);
}
