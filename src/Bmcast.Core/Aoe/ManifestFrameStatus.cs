namespace Bmcast.Core.Aoe;

/// <summary>What the start of a manifest companion device says (<see cref="ManifestFrame.TryReadHeader"/>).</summary>
public enum ManifestFrameStatus
{
    Valid,
    /// <summary>The device is too short to hold a frame header and the manifest magic.</summary>
    Truncated,
    /// <summary>No manifest magic after the header: some other device (another image, say) sits at that address.</summary>
    NotAManifest,
    /// <summary>The magic is there but the declared length is shorter than the magic or above <see cref="ManifestFrame.MaxManifestLength"/>.</summary>
    BadLength,
    /// <summary>The declared length runs past the end of the device.</summary>
    PastDeviceEnd,
}
