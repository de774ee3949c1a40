namespace Bmcast.Protocols.Nbd;

/// <summary>Handshake flags (16 bits) the server sends in its greeting.</summary>
[Flags]
public enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

/// <summary>Client flags (32 bits) the client answers the greeting with.</summary>
[Flags]
public enum NbdClientFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

/// <summary>Option types sent during option haggling.</summary>
public enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    PeekExport = 4,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
    ExtendedHeaders = 11,
}

/// <summary>Option reply types; errors have bit 31 set.</summary>
public enum NbdOptionReply : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,

    ErrUnsup = 0x8000_0001,
    ErrPolicy = 0x8000_0002,
    ErrInvalid = 0x8000_0003,
    ErrPlatform = 0x8000_0004,
    ErrTlsReqd = 0x8000_0005,
    ErrUnknown = 0x8000_0006,
    ErrShutdown = 0x8000_0007,
    ErrBlockSizeReqd = 0x8000_0008,
    ErrTooBig = 0x8000_0009,
}

/// <summary>Information types in NBD_OPT_INFO/NBD_OPT_GO requests and NBD_REP_INFO replies.</summary>
public enum NbdInfo : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

public static class NbdOptionReplyExtensions
{
    public static bool IsError(this NbdOptionReply reply) => ((uint)reply & 0x8000_0000) != 0;
}
