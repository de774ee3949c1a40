namespace Bmcast.Protocols.Nbd;

/// <summary>Transmission flags (16 bits) describing an export, sent when the handshake ends.</summary>
[Flags]
public enum NbdTransmissionFlags : ushort
{
    None = 0,
    /// <summary>MUST always be set.</summary>
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    /// <summary>READ honours NBD_CMD_FLAG_DF; only with structured replies.</summary>
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendResize = 1 << 9,
    SendCache = 1 << 10,
    SendFastZero = 1 << 11,
}

/// <summary>Request types.</summary>
public enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

/// <summary>Command flags (16 bits) in every request.</summary>
[Flags]
public enum NbdCommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    ReqOne = 1 << 3,
    FastZero = 1 << 4,
}

/// <summary>Structured reply chunk flags.</summary>
[Flags]
public enum NbdReplyFlags : ushort
{
    None = 0,
    Done = 1 << 0,
}

/// <summary>Structured reply chunk types; error chunks have bit 15 set.</summary>
public enum NbdReplyType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = 0x8001,
    ErrorOffset = 0x8002,
}

/// <summary>The only error values the wire may carry (they equal Linux errno values).</summary>
public enum NbdError : uint
{
    None = 0,
    Perm = 1,
    Io = 5,
    NoMem = 12,
    Inval = 22,
    NoSpc = 28,
    Overflow = 75,
    NotSup = 95,
    Shutdown = 108,
}

public static class NbdReplyTypeExtensions
{
    public static bool IsError(this NbdReplyType type) => ((ushort)type & 0x8000) != 0;
}
