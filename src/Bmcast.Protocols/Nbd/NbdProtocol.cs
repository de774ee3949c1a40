namespace Bmcast.Protocols.Nbd;

/// <summary>
/// Magic numbers, fixed message sizes and the limits this implementation enforces
/// (NetworkBlockDevice/nbd <c>doc/proto.md</c>). All integers on the wire are big-endian.
/// </summary>
public static class NbdProtocol
{
    /// <summary>The IANA port for newstyle negotiation.</summary>
    public const int DefaultPort = 10809;

    /// <summary>"NBDMAGIC": first 8 bytes the server sends.</summary>
    public const ulong InitMagic = 0x4e42444d41474943;

    /// <summary>"IHAVEOPT": follows <see cref="InitMagic"/> in newstyle greetings and starts every client option.</summary>
    public const ulong OptionMagic = 0x49484156454F5054;

    /// <summary>Starts every fixed-newstyle option reply.</summary>
    public const ulong OptionReplyMagic = 0x3e889045565a9;

    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;

    /// <summary>Strings (export names, descriptions, messages) MUST be no longer than this.</summary>
    public const int MaxStringLength = 4096;

    /// <summary>
    /// Largest READ/WRITE payload: the spec's default maximum, which every peer supports and which we
    /// advertise in <c>NBD_INFO_BLOCK_SIZE</c>.
    /// </summary>
    public const int MaxPayload = 32 << 20;

    /// <summary>Preferred block size we advertise: the page size, below which writes become read-modify-write.</summary>
    public const int PreferredBlockSize = 4096;

    /// <summary>
    /// Largest option payload accepted during the handshake. A GO or SET_META_CONTEXT carrying
    /// maximal strings fits easily; anything bigger is a denial-of-service attempt.
    /// </summary>
    public const int MaxOptionLength = 64 << 10;

    /// <summary>Trailing zero bytes after an NBD_OPT_EXPORT_NAME reply unless NO_ZEROES was negotiated.</summary>
    public const int ExportNameReplyPadding = 124;
}
