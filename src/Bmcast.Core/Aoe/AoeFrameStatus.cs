namespace Bmcast.Core.Aoe;

/// <summary>Why a frame could not be parsed; receivers drop such frames (AoE is unreliable, the initiator resends).</summary>
public enum AoeFrameStatus
{
    Valid,
    /// <summary>Shorter than the headers it claims to carry.</summary>
    Truncated,
    /// <summary>Not ethertype 0x88A2.</summary>
    NotAoe,
    /// <summary>An AoE version other than 1.</summary>
    UnsupportedVersion,
    /// <summary>A config string longer than 1024 bytes or than the frame.</summary>
    BadConfigStringLength,
}
