namespace Bmcast.Core.Aoe;

/// <summary>What the start of a companion device says (<see cref="CompanionFrame.TryReadHeader"/>).</summary>
public enum CompanionFrameStatus
{
    Valid,
    /// <summary>The device is too short to hold a frame header and the payload's magic.</summary>
    Truncated,
    /// <summary>No payload magic after the header: some other device (another image, say) sits at that address.</summary>
    NoMagic,
    /// <summary>The magic is there but the declared length is shorter than the magic or above <see cref="CompanionFrame.MaxPayloadLength"/>.</summary>
    BadLength,
    /// <summary>The declared length runs past the end of the device.</summary>
    PastDeviceEnd,
}
